package tsgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The precedence of a TypeScript type expression, so that a union is parenthesized
// where it becomes an array's element or a member of an intersection.
const (
	precAtom = iota
	precIntersection
	precUnion
)

// tsOut is the translation of one subschema: a TypeScript type expression and what
// the expression leaves to the server.
type tsOut struct {
	text    string
	prec    int
	members []string // the members of a union, to check an index signature against
	checks  []string // constraints the type does not carry, e.g. "minimum 0"
	notes   []string // sentences on what the type does not express
}

var (
	tsUnknown = tsOut{text: "unknown"}
	tsNever   = tsOut{text: "never"}
)

// paren is the expression as an array element or an intersection member.
func (o tsOut) paren(max int) string {
	if o.prec > max {
		return "(" + o.text + ")"
	}
	return o.text
}

// merge appends the checks and notes of sub; with a prefix, sub's checks become
// one check, "each item (minLength 1, maxLength 20)".
func (o *tsOut) merge(sub tsOut, prefix string) {
	switch {
	case len(sub.checks) == 0:
	case prefix == "":
		o.checks = append(o.checks, sub.checks...)
	default:
		o.checks = append(o.checks, prefix+" ("+strings.Join(sub.checks, ", ")+")")
	}
	o.notes = append(o.notes, sub.notes...)
}

// tsUnion is the union of alts. An unknown alternative makes the union unknown; a
// never alternative drops out.
func tsUnion(alts []tsOut) tsOut {
	var out tsOut
	var texts []string
	unknown := false
	for _, a := range alts {
		out.merge(a, "")
		switch a.text {
		case "unknown":
			unknown = true
		case "never":
		default:
			ms := a.members
			if ms == nil {
				ms = []string{a.text}
			}
			for _, m := range ms {
				if !slices.Contains(texts, m) {
					texts = append(texts, m)
				}
			}
		}
	}
	switch {
	case unknown:
		out.text = "unknown"
	case len(texts) == 0:
		out.text = "never"
	case len(texts) == 1:
		out.text, out.prec = texts[0], precAtom
		if len(alts) == 1 {
			out.prec = alts[0].prec
		}
		for _, a := range alts {
			if a.text == texts[0] {
				out.prec = a.prec
			}
		}
	default:
		out.text, out.prec, out.members = strings.Join(texts, " | "), precUnion, texts
	}
	return out
}

// tsIntersection is the intersection of parts; unknown parts drop out.
func tsIntersection(parts []tsOut) tsOut {
	var out tsOut
	var kept []tsOut
	for _, p := range parts {
		out.merge(p, "")
		if p.text == "unknown" || slices.ContainsFunc(kept, func(k tsOut) bool { return k.text == p.text }) {
			continue
		}
		if p.text == "never" {
			out.text = "never"
			return out
		}
		kept = append(kept, p)
	}
	switch len(kept) {
	case 0:
		out.text = "unknown"
	case 1:
		out.text, out.prec, out.members = kept[0].text, kept[0].prec, kept[0].members
	default:
		texts := make([]string, len(kept))
		for i, k := range kept {
			texts[i] = k.paren(precIntersection)
		}
		out.text, out.prec = strings.Join(texts, " & "), precIntersection
	}
	return out
}

// tsAlias is one exported type of the module: a message type's payload, or a
// subschema that a $ref points to.
type tsAlias struct {
	name   string
	ptr    string // the JSON Pointer of the subschema in its document; "" for the root
	schema any
	out    tsOut
	refs   []*tsAlias // aliases named in the body outside any object or array
}

// tsTranslator translates the schema document of one message type into aliases.
// Every $ref target becomes an alias of its own, translated once, so that recursive
// schemas come out as recursive types instead of endless expansion.
type tsTranslator struct {
	names   map[string]bool // identifiers taken in the module
	base    string          // the message type's identifier
	root    any
	byPtr   map[string]*tsAlias
	aliases []*tsAlias // the root first, then in order of first reference
	cur     *tsAlias   // the alias being translated
}

// translateDoc translates root, the decoded schema of a message type whose
// identifier is base, into the root alias and one alias per $ref target.
func translateDoc(names map[string]bool, base string, root any) []*tsAlias {
	x := &tsTranslator{names: names, base: base, root: root, byPtr: map[string]*tsAlias{}}
	top := &tsAlias{name: base, schema: root}
	x.byPtr[""] = top
	x.aliases = append(x.aliases, top)
	for i := 0; i < len(x.aliases); i++ { // grows as references are found
		x.cur = x.aliases[i]
		x.cur.out = x.schema(x.cur.schema, false, 0)
	}
	x.breakCycles()
	return x.aliases
}

// breakCycles turns every alias that reaches itself through unions, intersections
// and plain references, with no object or array in between, into unknown:
// TypeScript rejects such an alias as circular.
func (x *tsTranslator) breakCycles() {
	var circular []*tsAlias
	for _, a := range x.aliases {
		seen := map[*tsAlias]bool{}
		stack := slices.Clone(a.refs)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n == a {
				circular = append(circular, a)
				break
			}
			if !seen[n] {
				seen[n] = true
				stack = append(stack, n.refs...)
			}
		}
	}
	for _, a := range circular {
		a.out = tsOut{text: "unknown", notes: append(a.out.notes,
			"Refers to itself through `$ref` with no object or array in between, which a TypeScript type cannot; typed as unknown.")}
	}
}

// schema translates one subschema. guarded says whether the expression ends up inside
// an object or array type, where a reference to an alias may be circular.
func (x *tsTranslator) schema(s any, guarded bool, depth int) tsOut {
	switch v := s.(type) {
	case bool:
		if v {
			return tsUnknown
		}
		return tsNever
	case *jsonObject:
		return x.node(v, guarded, depth)
	}
	return tsOut{text: "unknown", notes: []string{"A subschema is neither an object nor a boolean; typed as unknown."}}
}

// schemaChecks are the keywords that constrain a value beyond what a TypeScript type
// says, noted in the TSDoc in this order.
var schemaChecks = []string{
	"format", "pattern", "minLength", "maxLength",
	"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf",
	"minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "unevaluatedItems",
	"minProperties", "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
	"unevaluatedProperties", "contentEncoding", "contentMediaType",
}

// node translates a schema object: its const, enum or type, intersected with its
// $ref, anyOf, oneOf and allOf.
func (x *tsTranslator) node(o *jsonObject, guarded bool, depth int) tsOut {
	var parts []tsOut
	var head tsOut
	for _, kw := range schemaChecks {
		if v, ok := o.get(kw); ok && !(kw == "uniqueItems" && v == false) {
			head.checks = append(head.checks, checkText(kw, v))
		}
	}
	if c, ok := o.get("const"); ok {
		parts = append(parts, tsOut{text: tsLiteral(c)})
	} else if e, ok := o.get("enum"); ok {
		vals, _ := e.([]any)
		var lits []tsOut
		for _, v := range vals {
			lits = append(lits, tsOut{text: tsLiteral(v)})
		}
		if len(lits) == 0 {
			head.notes = append(head.notes, "`enum` is not a non-empty array; typed as unknown.")
		} else {
			parts = append(parts, tsUnion(lits))
		}
	} else if types := schemaTypes(o); len(types) > 0 {
		alts := make([]tsOut, 0, len(types))
		for _, t := range types {
			alts = append(alts, x.typed(o, t, depth))
		}
		if slices.Contains(types, "integer") && !slices.Contains(types, "number") {
			head.checks = slices.Insert(head.checks, 0, "integer")
		}
		parts = append(parts, tsUnion(alts))
	}
	if r, ok := o.str("$ref"); ok {
		parts = append(parts, x.ref(r, guarded))
	}
	for _, kw := range []string{"$dynamicRef", "$recursiveRef"} {
		if _, ok := o.get(kw); ok {
			head.notes = append(head.notes, fmt.Sprintf("`%s` is not expressed in this type.", kw))
		}
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		branches, ok := o.get(kw)
		if !ok {
			continue
		}
		list, _ := branches.([]any)
		alts := make([]tsOut, 0, len(list))
		for i, b := range list {
			sub := x.schema(b, guarded, depth)
			alt := tsOut{text: sub.text, prec: sub.prec, members: sub.members}
			alt.merge(sub, fmt.Sprintf("%s alternative %d", kw, i+1))
			alts = append(alts, alt)
		}
		u := tsUnion(alts)
		if u.text == "unknown" {
			u.notes = append(u.notes, fmt.Sprintf("`%s` has an alternative this type cannot express, so the type does not narrow it.", kw))
		}
		parts = append(parts, u)
	}
	if branches, ok := o.get("allOf"); ok {
		list, _ := branches.([]any)
		for _, b := range list {
			parts = append(parts, x.schema(b, guarded, depth))
		}
	}
	if _, ok := o.get("if"); ok {
		head.notes = append(head.notes, describeIf(o))
	}
	if _, ok := o.get("not"); ok {
		head.notes = append(head.notes, notExpressed+"a `not` condition.")
	}
	out := tsIntersection(parts)
	out.checks = append(head.checks, out.checks...)
	out.notes = append(head.notes, out.notes...)
	return out
}

// schemaTypes lists the JSON types a schema object allows: its "type", or the type
// its keywords imply (properties: object; items: array), or none.
func schemaTypes(o *jsonObject) []string {
	switch t := o.vals["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var ts []string
		for _, e := range t {
			if s, ok := e.(string); ok && !slices.Contains(ts, s) {
				ts = append(ts, s)
			}
		}
		return ts
	}
	for _, kw := range []string{"properties", "required", "additionalProperties", "patternProperties"} {
		if _, ok := o.get(kw); ok {
			return []string{"object"}
		}
	}
	for _, kw := range []string{"items", "prefixItems"} {
		if _, ok := o.get(kw); ok {
			return []string{"array"}
		}
	}
	return nil
}

// typed translates the schema object o for one of its JSON types.
func (x *tsTranslator) typed(o *jsonObject, t string, depth int) tsOut {
	switch t {
	case "string", "number", "boolean", "null":
		return tsOut{text: t}
	case "integer":
		return tsOut{text: "number"}
	case "object":
		return x.object(o, depth)
	case "array":
		return x.array(o, depth)
	}
	return tsOut{text: "unknown", notes: []string{fmt.Sprintf("Unknown JSON type %s; typed as unknown.", jsonText(t))}}
}

// object translates the object keywords of o into an object literal type.
func (x *tsTranslator) object(o *jsonObject, depth int) tsOut {
	var out tsOut
	ind := strings.Repeat("  ", depth+1)
	var b strings.Builder
	b.WriteString("{\n")
	props, _ := o.vals["properties"].(*jsonObject)
	if props == nil {
		props = &jsonObject{}
	}
	var required []string
	reqList, _ := o.vals["required"].([]any)
	for _, r := range reqList {
		if s, ok := r.(string); ok && !slices.Contains(required, s) {
			required = append(required, s)
		}
	}
	var propTypes []string
	for _, k := range props.keys {
		sub := x.schema(props.vals[k], true, depth+1)
		writeDoc(&b, ind, schemaDoc(props.vals[k], sub))
		opt := "?"
		if slices.Contains(required, k) {
			opt = ""
		}
		fmt.Fprintf(&b, "%s%s%s: %s;\n", ind, tsPropertyName(k), opt, sub.text)
		propTypes = append(propTypes, sub.text)
	}
	for _, k := range required {
		if _, ok := props.get(k); !ok {
			fmt.Fprintf(&b, "%s%s: unknown;\n", ind, tsPropertyName(k))
			propTypes = append(propTypes, "unknown")
		}
	}

	// The index signature: additionalProperties false closes the object; a schema
	// or true opens it. Left out, a schema that declares properties gets a closed
	// type anyway, so that a misspelt property name is a compile error.
	var index []tsOut
	ap, hasAP := o.get("additionalProperties")
	patterns, _ := o.vals["patternProperties"].(*jsonObject)
	switch {
	case hasAP && ap == false:
	case hasAP:
		sub := x.schema(ap, true, depth+1)
		idx := tsOut{text: sub.text, prec: sub.prec, members: sub.members}
		out.merge(sub, "each additional property")
		index = append(index, idx)
	case len(propTypes) == 0 && patterns == nil:
		index = append(index, tsUnknown)
	}
	if patterns != nil {
		for _, p := range patterns.keys {
			sub := x.schema(patterns.vals[p], true, depth+1)
			idx := tsOut{text: sub.text, prec: sub.prec, members: sub.members}
			out.merge(sub, "properties matching "+checkValue(p))
			index = append(index, idx)
		}
	}
	if len(index) > 0 {
		u := tsUnion(index)
		if u.text != "unknown" && !indexFits(u, propTypes) {
			out.checks = append(out.checks, "the type of additional properties")
			u = tsUnknown
		}
		fmt.Fprintf(&b, "%s[key: string]: %s;\n", ind, u.text)
	} else if len(propTypes) == 0 {
		fmt.Fprintf(&b, "%s[key: string]: never;\n", ind)
	}
	b.WriteString(strings.Repeat("  ", depth) + "}")
	out.text = b.String()
	return out
}

// indexFits reports whether every declared property's type is one the index
// signature's type allows, as TypeScript requires.
func indexFits(index tsOut, propTypes []string) bool {
	members := index.members
	if members == nil {
		members = []string{index.text}
	}
	for _, p := range propTypes {
		if p != "never" && p != index.text && !slices.Contains(members, p) {
			return false
		}
	}
	return true
}

// array translates the array keywords of o into an array or tuple type.
func (x *tsTranslator) array(o *jsonObject, depth int) tsOut {
	var out tsOut
	items, hasItems := o.get("items")
	if _, old := items.([]any); old {
		out.notes = append(out.notes, "`items` is an array (a pre-2020-12 tuple); typed as unknown[].")
		hasItems = false
	}
	prefix, isTuple := o.vals["prefixItems"].([]any)
	if !isTuple {
		if !hasItems {
			out.text = "unknown[]"
			return out
		}
		sub := x.schema(items, true, depth)
		out.merge(sub, "each item")
		out.text = sub.paren(precAtom) + "[]"
		return out
	}
	minItems := 0
	if n, ok := o.vals["minItems"].(json.Number); ok {
		if v, err := n.Int64(); err == nil && v > 0 {
			minItems = int(min(v, int64(len(prefix))))
		}
	}
	elems := make([]string, 0, len(prefix)+1)
	for i, p := range prefix {
		sub := x.schema(p, true, depth)
		out.merge(sub, fmt.Sprintf("item %d", i))
		if i >= minItems {
			elems = append(elems, sub.paren(precAtom)+"?")
		} else {
			elems = append(elems, sub.text)
		}
	}
	switch {
	case !hasItems:
		elems = append(elems, "...unknown[]")
	case items == false:
	default:
		sub := x.schema(items, true, depth)
		out.merge(sub, "each further item")
		elems = append(elems, "..."+sub.paren(precAtom)+"[]")
	}
	out.text = "[" + strings.Join(elems, ", ") + "]"
	return out
}

// ref translates a $ref: a local JSON Pointer becomes the name of the alias of its
// target; anything else is unknown.
func (x *tsTranslator) ref(ref string, guarded bool) tsOut {
	local := ref
	if i := strings.IndexByte(ref, '#'); i > 0 {
		if id, ok := x.root.(*jsonObject).str("$id"); ok && id == ref[:i] {
			local = ref[i:]
		}
	}
	target, ptr, ok := resolvePointer(x.root, local)
	if !ok {
		return tsOut{text: "unknown", notes: []string{
			fmt.Sprintf("`$ref` %s does not point into this schema by a JSON Pointer; typed as unknown.", checkValue(ref))}}
	}
	a := x.byPtr[ptr]
	if a == nil {
		a = &tsAlias{name: x.aliasName(ptr), ptr: ptr, schema: target}
		x.byPtr[ptr] = a
		x.aliases = append(x.aliases, a)
	}
	if !guarded {
		x.cur.refs = append(x.cur.refs, a)
	}
	return tsOut{text: a.name}
}

// aliasName names the alias of the subschema at ptr after the message type and the
// pointer's significant segments: "/$defs/address" of PlaybackControlV1 becomes
// PlaybackControlV1Address.
func (x *tsTranslator) aliasName(ptr string) string {
	var b strings.Builder
	for _, seg := range strings.Split(ptr, "/") {
		switch seg {
		case "$defs", "definitions", "properties":
			continue
		}
		b.WriteString(pascalCase(unescapePointerSegment(seg)))
	}
	suffix := b.String()
	if suffix == "" {
		suffix = "Def"
	}
	return uniqueName(x.names, x.base+suffix)
}

// uniqueName takes name in names, or name_2, name_3, ... if it is taken.
func uniqueName(names map[string]bool, name string) string {
	cand := name
	for i := 2; names[cand]; i++ {
		cand = fmt.Sprintf("%s_%d", name, i)
	}
	names[cand] = true
	return cand
}

// tsLiteral is the literal type of a JSON value, for const and enum.
func tsLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprint(v)
	case json.Number:
		return v.String()
	case string:
		return tsString(v)
	case []any:
		elems := make([]string, len(v))
		for i, e := range v {
			elems[i] = tsLiteral(e)
		}
		return "[" + strings.Join(elems, ", ") + "]"
	case *jsonObject:
		if len(v.keys) == 0 {
			return "{ [key: string]: never }"
		}
		fields := make([]string, len(v.keys))
		for i, k := range v.keys {
			fields[i] = tsPropertyName(k) + ": " + tsLiteral(v.vals[k])
		}
		return "{ " + strings.Join(fields, "; ") + " }"
	}
	return "unknown"
}

// checkText names one constraint keyword and its value for a note: "minimum 0",
// "format uri", "uniqueItems".
func checkText(kw string, v any) string {
	switch v := v.(type) {
	case bool:
		if !v {
			return kw + " false"
		}
		return kw
	case string, json.Number:
		return kw + " " + checkValue(v)
	}
	return kw
}

// checkValue shows a keyword's value in a note: plain when it is a simple word or
// number, in backticks otherwise.
func checkValue(v any) string {
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(json.Number); isNum {
			return n.String()
		}
		s = jsonText(v)
	}
	simple := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:/", c) >= 0) {
			simple = false
		}
	}
	switch {
	case simple:
		return s
	case !strings.ContainsAny(s, "`\n\r"):
		return "`" + s + "`"
	}
	return jsonText(s)
}
