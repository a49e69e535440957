package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Direction says who may send a message type to whom.
type Direction string

// The directions of a type's policy.
const (
	// ServiceToDevice is a backend sending through the REST API or Kafka.
	ServiceToDevice Direction = "service_to_device"
	// DeviceToDevice is a device sending a msg frame to sibling devices.
	DeviceToDevice Direction = "device_to_device"
	// ServiceToTopic is a backend publishing to a topic, to every device
	// subscribed to it, of any account.
	ServiceToTopic Direction = "service_to_topic"
)

// Priority orders asynchronous delivery; high is also what a platform push bridge
// would mark as urgent.
type Priority string

// The priorities of a type's policy.
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// PriorityOf returns the priority named b, without allocating for the three
// known ones: for decoders that read a priority from a text.
func PriorityOf(b []byte) Priority {
	for _, p := range [...]Priority{PriorityHigh, PriorityNormal, PriorityLow} {
		if string(b) == string(p) {
			return p
		}
	}
	return Priority(b)
}

// DefaultMaxPayloadBytes is a type's payload limit when its policy sets none.
const DefaultMaxPayloadBytes = 4096

// maxPolicyBytes is the largest max_bytes a policy may set: payloads travel in
// frames whose default limit is 64 KiB, and the limit is configurable up to this.
const maxPolicyBytes = 1 << 20

// MaxStore is the largest store a policy may set, in seconds: 28 days, FCM's
// longest time to live and the inbox's default MaxTTL.
const MaxStore = 28 * 24 * 3600

// Policy is a type's delivery policy: the top-level "x-herald" object of its schema.
// ParseType fills the defaults, so a loaded Type's Policy holds effective values.
type Policy struct {
	// Directions lists who may send the type; at least one.
	Directions []Direction `json:"directions"`
	// Priority defaults to PriorityNormal.
	Priority Priority `json:"priority"`
	// TTL is the default time to live in seconds of an asynchronous send; 0 is none.
	TTL int `json:"ttl"`
	// Store is the longest in seconds a message of the type (a sync push or an
	// asynchronous send) waits in the inbox of a device that is offline; 0, the
	// default, stores nothing (the device is offline). At most MaxStore.
	Store int `json:"store"`
	// MaxBytes limits the payload's encoded size; 0 means DefaultMaxPayloadBytes.
	MaxBytes int `json:"max_bytes"`
	// Ack is the default of a msg's ack flag.
	Ack bool `json:"ack"`
	// Description says what the type is for; it is required.
	Description string `json:"description"`
}

// Keep returns how long a message of the type, sent to one named device that is
// offline, waits in the device's inbox (store-and-forward): ttl cut to Store,
// or Store when ttl is negative (none given, or a message that never expires).
// It is 0, the message not stored, when Store is 0 or ttl is 0 (now or never).
// A message with ack is stored like any other: the edge removes it when the
// device acks it rather than when it was written. The sync push and the
// processor both decide by it.
func (p Policy) Keep(ttl time.Duration) time.Duration {
	keep := time.Duration(p.Store) * time.Second
	if ttl >= 0 {
		keep = min(keep, ttl)
	}
	return max(keep, 0)
}

// Type is one registered message type: its name, policy and compiled schema.
// A Type is immutable and safe for concurrent use.
type Type struct {
	// Name is the type's name, e.g. "playback.control.v1".
	Name string
	// Policy is the type's x-herald policy with defaults filled.
	Policy Policy
	// Schema is the schema document as loaded.
	Schema json.RawMessage

	schema *jsonschema.Schema
}

// Allows reports whether the type's policy lets a message travel in direction d.
func (t *Type) Allows(d Direction) bool {
	return slices.Contains(t.Policy.Directions, d)
}

// ErrUnknownType is wrapped by Types.Validate for a type that is not registered.
var ErrUnknownType = errors.New("protocol: unknown message type")

// maxTypeNameLen bounds a type name so that names stay usable as keys and in paths.
const maxTypeNameLen = 128

// ValidTypeName reports whether name is a message type name:
// "<namespace>.<name>.v<major>" (or "<namespace>.v<major>", or with more dotted
// segments), each segment of lowercase letters, digits, '_' and '-', and the last
// segment "v" followed by a major version without leading zeros.
func ValidTypeName(name string) bool {
	if len(name) == 0 || len(name) > maxTypeNameLen {
		return false
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return false
	}
	ver := name[dot+1:]
	if len(ver) < 2 || ver[0] != 'v' || (ver[1] == '0' && len(ver) > 2) {
		return false
	}
	for i := 1; i < len(ver); i++ {
		if ver[i] < '0' || ver[i] > '9' {
			return false
		}
	}
	for seg := range strings.SplitSeq(name[:dot], ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// draft2020 is the $schema of every type's schema.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// ParseType compiles one schema document as the type name, as LoadTypes does for
// each file and `herald schema check` for one. It checks the name, that doc is a
// JSON object and a valid draft 2020-12 schema without external references, and
// the x-herald policy; the error names the problem.
func ParseType(name string, doc []byte) (*Type, error) {
	if !ValidTypeName(name) {
		return nil, fmt.Errorf("protocol: type %q: invalid name: want <namespace>.<name>.v<major> "+
			"with lowercase letters, digits, '_' and '-'", name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("protocol: type %s: "+format, append([]any{name}, args...)...)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fail("schema is not a JSON object: %v", err)
	}
	if raw, ok := top["$schema"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || strings.TrimSuffix(s, "#") != draft2020 {
			return nil, fail(`"$schema" must be %q, got %s`, draft2020, raw)
		}
	}
	raw, ok := top["x-herald"]
	if !ok {
		return nil, fail(`schema has no "x-herald" policy object`)
	}
	pol, err := parsePolicy(raw)
	if err != nil {
		return nil, fail("x-herald: %v", err)
	}

	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("external reference %s is not allowed", u)
	}
	url := "herald://types/" + name + ".json"
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, fail("invalid schema: %v", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fail("invalid schema: %s", schemaErrorText(err))
	}
	return &Type{Name: name, Policy: pol, Schema: bytes.Clone(doc), schema: sch}, nil
}

// schemaErrorText describes a compile error by its leaf causes, which name the
// offending keyword, rather than jsonschema's summary line.
func schemaErrorText(err error) string {
	var se *jsonschema.SchemaError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return strings.TrimPrefix(err.Error(), "jsonschema: ")
	}
	var parts []string
	for _, l := range leaves(ve, nil) {
		loc := l.InstanceLocation
		if loc == "" {
			loc = "(root)"
		}
		parts = append(parts, loc+": "+l.Message)
	}
	return strings.Join(parts, "; ")
}

// parsePolicy decodes and checks an x-herald object and fills its defaults.
// Unknown keys are errors so that a misspelt key is not silently ignored.
func parsePolicy(raw json.RawMessage) (Policy, error) {
	var p Policy
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || !isObjectStart(raw) {
		return p, errors.New("must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return p, fmt.Errorf("%s: must be a JSON %s, got %s", te.Field, jsonKindOf(te), te.Value)
		}
		return p, errors.New(strings.Replace(err.Error(), "json: unknown field", "unknown key", 1))
	}
	if len(p.Directions) == 0 {
		return p, errors.New(`directions: must list at least one of "service_to_device", "device_to_device", "service_to_topic"`)
	}
	for i, d := range p.Directions {
		if d != ServiceToDevice && d != DeviceToDevice && d != ServiceToTopic {
			return p, fmt.Errorf(`directions: unknown direction %q (want "service_to_device", "device_to_device" or "service_to_topic")`, d)
		}
		if slices.Contains(p.Directions[:i], d) {
			return p, fmt.Errorf("directions: %q listed twice", d)
		}
	}
	switch p.Priority {
	case "":
		p.Priority = PriorityNormal
	case PriorityHigh, PriorityNormal, PriorityLow:
	default:
		return p, fmt.Errorf(`priority: unknown priority %q (want "high", "normal" or "low")`, p.Priority)
	}
	if p.TTL < 0 {
		return p, fmt.Errorf("ttl: must be >= 0 seconds, got %d", p.TTL)
	}
	if p.Store < 0 || p.Store > MaxStore {
		return p, fmt.Errorf("store: must be between 0 and %d seconds, got %d", MaxStore, p.Store)
	}
	if p.MaxBytes < 0 || p.MaxBytes > maxPolicyBytes {
		return p, fmt.Errorf("max_bytes: must be between 0 and %d, got %d", maxPolicyBytes, p.MaxBytes)
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = DefaultMaxPayloadBytes
	}
	if strings.TrimSpace(p.Description) == "" {
		return p, errors.New("description: must not be empty")
	}
	return p, nil
}

// jsonKindOf names the JSON type a policy field wants.
func jsonKindOf(te *json.UnmarshalTypeError) string {
	switch te.Type.Kind().String() {
	case "int", "int64":
		return "integer"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	}
	return te.Type.Kind().String()
}

// typeSet is one immutable generation of a Types registry.
type typeSet struct {
	byName map[string]*Type
	list   []*Type // sorted by name
}

// Types is a registry of message types loaded from one or more file systems.
// It is safe for concurrent use; Reload swaps the whole set atomically.
type Types struct {
	sources []fs.FS
	mu      sync.Mutex // serializes Reload
	set     atomic.Pointer[typeSet]
}

// LoadTypes reads every *.json file at the root of each source; a file's name minus
// ".json" is its type's name. A type defined by two sources is an error naming it.
func LoadTypes(sources ...fs.FS) (*Types, error) {
	t := &Types{sources: slices.Clone(sources)}
	set, err := loadSet(t.sources)
	if err != nil {
		return nil, err
	}
	t.set.Store(set)
	return t, nil
}

func loadSet(sources []fs.FS) (*typeSet, error) {
	set := &typeSet{byName: make(map[string]*Type)}
	from := make(map[string]int)
	for i, src := range sources {
		entries, err := fs.ReadDir(src, ".")
		if err != nil {
			return nil, fmt.Errorf("protocol: load types: source %d: %w", i+1, err)
		}
		for _, e := range entries {
			if e.IsDir() || path.Ext(e.Name()) != ".json" {
				continue
			}
			name := strings.TrimSuffix(e.Name(), ".json")
			if j, dup := from[name]; dup {
				return nil, fmt.Errorf("protocol: load types: type %s is defined by source %d and source %d", name, j+1, i+1)
			}
			doc, err := fs.ReadFile(src, e.Name())
			if err != nil {
				return nil, fmt.Errorf("protocol: load types: source %d: %w", i+1, err)
			}
			typ, err := ParseType(name, doc)
			if err != nil {
				return nil, fmt.Errorf("protocol: load types: source %d: %s: %w", i+1, e.Name(), err)
			}
			from[name] = i
			set.byName[name] = typ
			set.list = append(set.list, typ)
		}
	}
	slices.SortFunc(set.list, func(a, b *Type) int { return strings.Compare(a.Name, b.Name) })
	return set, nil
}

// Reload re-reads the sources given to LoadTypes. On error it keeps the current set
// and returns the error; on success the new set replaces the old one at once.
func (t *Types) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	set, err := loadSet(t.sources)
	if err != nil {
		return err
	}
	t.set.Store(set)
	return nil
}

// Lookup returns the type called name.
func (t *Types) Lookup(name string) (*Type, bool) {
	typ, ok := t.set.Load().byName[name]
	return typ, ok
}

// List returns every type, sorted by name. The slice is the caller's.
func (t *Types) List() []*Type {
	return slices.Clone(t.set.Load().list)
}

// Validate checks payload against the type called name. The error wraps
// ErrUnknownType when there is no such type, and is a *ValidationError when the
// payload does not conform.
func (t *Types) Validate(name string, payload []byte) error {
	typ, ok := t.Lookup(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, name)
	}
	return typ.Validate(payload)
}
