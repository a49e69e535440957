package protocol

import (
	"encoding/json"
	"unicode/utf8"
)

// maxPlainDepth is the deepest nesting plainValue reads; a deeper payload goes
// to encoding/json.
const maxPlainDepth = 64

// plainValue parses payload into the value that json.Decoder with UseNumber
// makes of it, for a payload in the plain form that senders' JSON encoders
// write: strings without escapes or invalid UTF-8, nesting of at most
// maxPlainDepth. It reports false for anything else, valid or not, which the
// caller then decodes with encoding/json: so the result is always
// encoding/json's (FuzzPlainValue holds the two to that). A Decoder per
// payload was most of the garbage of validating one.
func plainValue(payload []byte) (any, bool) {
	p := plainParser{b: payload}
	p.space()
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(p.b)
}

// plainParser reads b from i.
type plainParser struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (p *plainParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// value reads one value at nesting depth.
func (p *plainParser) value(depth int) (any, bool) {
	if p.i >= len(p.b) || depth > maxPlainDepth {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		for _, lit := range [...]struct {
			text string
			v    any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if len(p.b)-p.i >= len(lit.text) && string(p.b[p.i:p.i+len(lit.text)]) == lit.text {
				p.i += len(lit.text)
				return lit.v, true
			}
		}
		return nil, false
	}
}

// object reads an object; p.b[p.i] is '{'.
func (p *plainParser) object(depth int) (any, bool) {
	m := make(map[string]any)
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated name: the last one, as encoding/json
		if end, ok := p.separator('}'); !ok {
			return nil, false
		} else if end {
			return m, true
		}
	}
}

// separator reads what follows a member or an element: a comma (end false)
// or closing (end true), with the spaces around it; ok is false for anything
// else.
func (p *plainParser) separator(closing byte) (end, ok bool) {
	p.space()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.space()
		return false, true
	case closing:
		p.i++
		return true, true
	}
	return false, false
}

// array reads an array; p.b[p.i] is '['.
func (p *plainParser) array(depth int) (any, bool) {
	a := make([]any, 0)
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if end, ok := p.separator(']'); !ok {
			return nil, false
		} else if end {
			return a, true
		}
	}
}

// string reads a string without escapes, control characters or invalid
// UTF-8.
func (p *plainParser) string() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start, ascii := p.i+1, true
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			p.i = j + 1
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number reads a number as its text: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *plainParser) number() (any, bool) {
	b, start, i := p.b, p.i, p.i
	digits := func() bool {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	p.i = i
	return json.Number(b[start:i]), true
}
