package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heraldpush/herald/protocol"
)

// Request bodies are decoded with encoding/json, which ignores a member it has
// no field for. Frames grow by optional fields and must ignore them; a REST
// body is not like that: a backend writes it against this API, and a member it
// misspells changes what the request does. {"to":{"account":"a1",
// "device_id":"tv1"}} has no "device", so it would reach every connected device
// of a1. Each request type therefore has its fields, read once from its struct
// tags, and decodeBody refuses the first member of a body that no field takes,
// naming it. Values that are free-form by contract (a payload, device
// attributes) are not looked into.

// fields is what one JSON value of a request body may hold: for an object
// decoded into a struct, its member names and what each one's value may hold;
// for an array, what each element may hold. A nil *fields is a value that is
// not looked into: a scalar, a payload, a map, a list of strings.
type fields struct {
	names  []string  // the struct's JSON names, in field order
	folded []string  // names folded by foldName, for the case-insensitive match
	of     []*fields // of[i] is what the value of names[i] may hold
	elem   *fields   // for an array: what each element may hold
	array  bool
}

// The fields of each request body.
var (
	pushFields     = fieldsOf(reflect.TypeFor[PushRequest]())
	batchFields    = fieldsOf(reflect.TypeFor[PushBatchRequest]())
	rawBatchFields = fieldsOf(reflect.TypeFor[rawBatchBody]())
	messageFields  = fieldsOf(reflect.TypeFor[MessageRequest]())
	// A batch of asynchronous messages is decoded message by message.
	messageBatchFields     = fieldsOf(reflect.TypeFor[MessageBatchRequest]())
	rawMessageBatchFields  = fieldsOf(reflect.TypeFor[rawMessageBatch]())
	messageBatchItemFields = fieldsOf(reflect.TypeFor[MessageBatchItem]())
	deviceFields           = fieldsOf(reflect.TypeFor[DeviceRequest]())
	publishFields          = fieldsOf(reflect.TypeFor[PublishRequest]())
	subscribersFields      = fieldsOf(reflect.TypeFor[SubscribersRequest]())
	unmarshalerType        = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType    = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fieldsOf returns what a JSON value decoded into t may hold, by the rules of
// encoding/json: a struct's exported fields under their json tag names (the Go
// name when the tag has none), none of those tagged "-". A type that decodes
// itself is not looked into. It panics on an embedded struct field, whose
// members encoding/json would lift into the outer object: no request type has
// one, and fieldsOf would have to lift them too.
func fieldsOf(t reflect.Type) *fields {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p := reflect.PointerTo(t); p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		f := &fields{}
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.Anonymous {
				panic(fmt.Sprintf("api: fieldsOf %s: embedded field %s", t, sf.Name))
			}
			tag := sf.Tag.Get("json")
			if !sf.IsExported() || tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" {
				name = sf.Name
			}
			f.names = append(f.names, name)
			f.folded = append(f.folded, string(foldName([]byte(name))))
			f.of = append(f.of, fieldsOf(sf.Type))
		}
		return f
	case reflect.Slice, reflect.Array:
		if e := fieldsOf(t.Elem()); e != nil {
			return &fields{array: true, elem: e}
		}
	}
	return nil
}

// decodeBody decodes the JSON request body b into v, whose fields are in, and
// returns the problem that refuses it, if any: b is not JSON, a value has the
// wrong type, or a member is one that no field takes.
func decodeBody(b []byte, v any, in *fields) *protocol.Problem {
	if err := json.Unmarshal(b, v); err != nil {
		return protocol.NewProblem(protocol.CodeBadRequest, describeJSONError(err))
	}
	return in.check(b)
}

// check returns the bad_request problem that names the first member of the
// JSON text b that no field takes, nil when there is none. b must be valid
// JSON: it has been decoded already.
func (f *fields) check(b []byte) *protocol.Problem {
	at, key, obj := f.unknown(b)
	if obj == nil {
		return nil
	}
	where := "the body's fields are "
	if at != "" {
		where = fmt.Sprintf("the fields of %q are ", at)
	}
	return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`unknown field %.200q: %s"%s"`,
		joinPath(at, key), where, strings.Join(obj.names, `", "`)))
}

// unknown finds the first member of the JSON text b that no field takes: key
// is its name, at the dotted path of the object that holds it (to,
// messages.2.to; "" for the body itself) and obj that object's fields. obj is
// nil when every member has a field.
func (f *fields) unknown(b []byte) (at, key string, obj *fields) {
	w := walker{b: b}
	return w.walk(f)
}

// joinPath joins two dotted paths, either of which may be "".
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

// walker reads a JSON text that encoding/json has already accepted, so it
// need not check the syntax; on text that is not JSON it still ends, with an
// answer of no meaning.
type walker struct {
	b []byte
	i int
}

// walk reads one value that may hold what f says, and returns the first
// member in it that no field takes as unknown does, its path relative to the
// value. Paths are built on the way back up, so a body without an unknown
// member costs no allocation.
func (w *walker) walk(f *fields) (at, key string, obj *fields) {
	w.space()
	if f == nil || w.i >= len(w.b) {
		w.skip()
		return "", "", nil
	}
	switch c := w.b[w.i]; {
	case f.array && c == '[':
		w.i++
		for n := 0; ; n++ {
			if w.space(); w.i >= len(w.b) || w.b[w.i] == ']' {
				w.i++
				return "", "", nil
			}
			if at, key, obj := w.walk(f.elem); obj != nil {
				return joinPath(strconv.Itoa(n), at), key, obj
			}
			if w.space(); w.i >= len(w.b) || w.b[w.i] != ',' {
				w.i++ // the ']'
				return "", "", nil
			}
			w.i++
		}
	case !f.array && c == '{':
		w.i++
		for {
			if w.space(); w.i >= len(w.b) || w.b[w.i] == '}' {
				w.i++
				return "", "", nil
			}
			if w.b[w.i] != '"' {
				return "", "", nil // not JSON
			}
			quoted := w.str()
			if w.space(); w.i < len(w.b) && w.b[w.i] == ':' {
				w.i++
			}
			k := f.index(quoted)
			if k < 0 {
				return "", keyName(quoted), f
			}
			if at, key, obj := w.walk(f.of[k]); obj != nil {
				return joinPath(f.names[k], at), key, obj
			}
			if w.space(); w.i < len(w.b) && w.b[w.i] == ',' {
				w.i++
			}
		}
	}
	w.skip() // null, or a value of a type encoding/json has refused
	return "", "", nil
}

// space skips white space.
func (w *walker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// str reads the string at w.i and returns it as it is in the text, quotes
// included.
func (w *walker) str() []byte {
	start := w.i
	for w.i++; w.i < len(w.b); w.i++ {
		switch w.b[w.i] {
		case '\\':
			w.i++ // the escaped byte cannot end the string
		case '"':
			w.i++
			return w.b[start:w.i]
		}
	}
	return w.b[start:]
}

// skip reads one value of any kind.
func (w *walker) skip() {
	w.space()
	if w.i >= len(w.b) {
		return
	}
	switch w.b[w.i] {
	case '"':
		w.str()
		return
	case '{', '[':
		depth := 0
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '"':
				w.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					w.i++
					return
				}
			}
			w.i++
		}
		return
	}
	for w.i < len(w.b) { // a number, true, false or null
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		w.i++
	}
}

// index returns the field that the member named by the quoted key takes, -1
// for none. The match is encoding/json's: the exact name, else the name folded
// by foldName.
func (f *fields) index(quoted []byte) int {
	if len(quoted) < 2 {
		return -1
	}
	key := quoted[1 : len(quoted)-1]
	if !isPlain(key) {
		var s string
		if json.Unmarshal(quoted, &s) != nil {
			return -1
		}
		key = []byte(s)
	}
	for i, n := range f.names {
		if string(key) == n {
			return i
		}
	}
	folded := foldName(key)
	for i, n := range f.folded {
		if string(folded) == n {
			return i
		}
	}
	return -1
}

// isPlain reports whether the contents of a JSON string are as encoding/json
// decodes them: printable ASCII without escapes.
func isPlain(s []byte) bool {
	for _, c := range s {
		if c < ' ' || c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// keyName returns the name of the quoted key for a problem's detail: the
// decoded string, or the text as it is when it does not decode.
func keyName(quoted []byte) string {
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return string(quoted)
	}
	return s
}

// foldName folds a member name as encoding/json does before matching it case
// insensitively (its fold.go): ASCII letters to upper case, other runes to the
// upper case of their lower case.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return out
}
