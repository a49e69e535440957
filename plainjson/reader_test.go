package plainjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// readRaw reads b as one value with Raw and reports whether it was all of b.
func readRaw(b []byte) ([]byte, bool) {
	r := New(b)
	v, ok := r.Raw()
	return v, ok && r.End()
}

func TestRaw(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	deepest := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	for _, tt := range []struct {
		name, in, want string
		ok             bool
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
		{"whitespace kept inside, trimmed around", " \n{ \"a\" : [ 1 , 2 ] }\t", `{ "a" : [ 1 , 2 ] }`, true},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D"`, `"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D"`, true},
		{"numbers", `[0,-0,1.5,-2e10,3E+2,4e-1,123456789012345678901234567890]`, `[0,-0,1.5,-2e10,3E+2,4e-1,123456789012345678901234567890]`, true},
		{"utf-8", `"héllo ☃"`, `"héllo ☃"`, true},
		{"empty containers", `[{},[]]`, `[{},[]]`, true},
		{"nesting at MaxDepth", deepest, deepest, true},
		{"nesting past MaxDepth", deep, "", false},
		{"leading zero", `01`, "", false},
		{"bare minus", `-`, "", false},
		{"fraction without digits", `1.`, "", false},
		{"exponent without digits", `1e+`, "", false},
		{"bad escape", `"\x"`, "", false},
		{"short unicode escape", `"\u12"`, "", false},
		{"control character", "\"a\tb\"", "", false},
		{"invalid UTF-8", "\"\xff\"", "", false},
		{"trailing comma", `[1,]`, "", false},
		{"missing colon", `{"a" 1}`, "", false},
		{"name not a string", `{a:1}`, "", false},
		{"two values", `1 2`, "", false},
		{"unterminated", `{"a":1`, "", false},
		{"literal cut", `tru`, "", false},
		{"empty", ``, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readRaw([]byte(tt.in))
			if ok != tt.ok || ok && string(got) != tt.want {
				t.Fatalf("Raw(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestScalars(t *testing.T) {
	for _, tt := range []struct {
		name string
		read func(r *Reader) (any, bool)
		in   string
		want any
		ok   bool
	}{
		{"string", str, ` "abc" `, "abc", true},
		{"string with escape", str, `"a\nb"`, nil, false},
		{"string with control character", str, "\"a\x01\"", nil, false},
		{"string of invalid UTF-8", str, "\"a\xc3\"", nil, false},
		{"not a string", str, `1`, nil, false},
		{"int", integer(64), ` -42 `, int64(-42), true},
		{"int zero", integer(64), `0`, int64(0), true},
		{"int leading zero", integer(64), `007`, nil, false},
		{"int fraction", integer(64), `1.0`, nil, false},
		{"int exponent", integer(64), `1e3`, nil, false},
		{"int past 32 bits", integer(32), `2147483648`, nil, false},
		{"int at 32 bits", integer(32), `2147483647`, int64(2147483647), true},
		{"bool true", boolean, `true`, true, true},
		{"bool false", boolean, ` false`, false, true},
		{"bool null", boolean, `null`, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := New([]byte(tt.in))
			got, ok := tt.read(&r)
			ok = ok && r.End()
			if ok != tt.ok || ok && got != tt.want {
				t.Fatalf("%q: got %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func str(r *Reader) (any, bool) {
	s, ok := r.String()
	return string(s), ok
}

func integer(bits int) func(r *Reader) (any, bool) {
	return func(r *Reader) (any, bool) { return r.Int(bits) }
}

func boolean(r *Reader) (any, bool) { return r.Bool() }

func TestObjectRefusedByMember(t *testing.T) {
	r := New([]byte(`{"a":1,"b":2}`))
	var names []string
	ok := r.Object(func(name []byte) bool {
		names = append(names, string(name))
		if string(name) == "b" {
			return false
		}
		_, ok := r.Int(64)
		return ok
	})
	if ok || strings.Join(names, ",") != "a,b" {
		t.Fatalf("Object = %v after %v; want false after a,b", ok, names)
	}
}

// FuzzRaw holds Raw to encoding/json: a text it takes is valid JSON, and
// what it returns is the value without the whitespace around it.
func FuzzRaw(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9"],"b":null}`, ` [true , false] `, `"\ud83d\ude00"`, `-0.0`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := readRaw(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("Raw took %q, which is not JSON", b)
		}
		var want json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("Raw took %q, which encoding/json refuses: %v", b, err)
		}
		if string(got) != string(want) {
			t.Fatalf("Raw(%q) = %q, encoding/json's %q", b, got, want)
		}
	})
}

func TestSeen(t *testing.T) {
	var s Seen
	for _, tt := range []struct {
		i    uint
		want bool
	}{{0, true}, {63, true}, {0, false}, {5, true}, {63, false}, {5, false}} {
		if got := s.First(tt.i); got != tt.want {
			t.Fatalf("First(%d) = %v, want %v", tt.i, got, tt.want)
		}
	}
}

// TestText checks that Text gives the text of what its read read, without
// the whitespace around it, as the elements of an array, and reports false
// when the read does.
func TestText(t *testing.T) {
	r := New([]byte(" [ {\"a\" : 1} ,\n\"b\",{ } ] "))
	var got []string
	ok := r.Array(func() bool {
		text, ok := r.Text(func() bool { _, ok := r.Raw(); return ok })
		got = append(got, string(text))
		return ok
	})
	if !ok || !r.End() {
		t.Fatal("the array was refused")
	}
	if want := []string{`{"a" : 1}`, `"b"`, `{ }`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("texts %q, want %q", got, want)
	}
	r = New([]byte(`{"a":x}`))
	if text, ok := r.Text(func() bool { _, ok := r.Raw(); return ok }); ok || text != nil {
		t.Fatalf("a refused read gave %q, %v", text, ok)
	}
}
