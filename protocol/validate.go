package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// maxDetails bounds the details of one ValidationError, so that an error frame
// stays small whatever the payload.
const maxDetails = 32

// ValidationError reports a payload that its type refuses. Edges answer it with an
// error frame and the API with a problem, both with Code and Details.
type ValidationError struct {
	// Type is the message type's name.
	Type string
	// Code is CodeTooLarge when the payload exceeds the policy's MaxBytes, otherwise
	// CodeSchemaInvalid (which includes a payload that is not JSON).
	Code Code
	// Details has one entry per failing leaf of the schema, at most 32, each with a
	// JSON pointer into the payload ("" for the payload itself).
	Details []Detail
}

// Error names the type and the first detail, e.g.
// `protocol: playback.control.v1: schema_invalid at /position_ms: must be >= 0 but found -1`.
func (e *ValidationError) Error() string {
	s := "protocol: " + e.Type + ": " + string(e.Code)
	if len(e.Details) > 0 {
		d := e.Details[0]
		p := d.Pointer
		if p == "" {
			p = "(root)"
		}
		s += " at " + p + ": " + d.Message
		if n := len(e.Details) - 1; n > 0 {
			s += " (and " + strconv.Itoa(n) + " more)"
		}
	}
	return s
}

// Validate checks payload against the type's size limit and schema. It returns nil
// or a *ValidationError.
func (t *Type) Validate(payload []byte) error {
	if len(payload) > t.Policy.MaxBytes {
		return &ValidationError{Type: t.Name, Code: CodeTooLarge, Details: []Detail{{
			Message: fmt.Sprintf("payload is %d bytes, the limit of %s is %d", len(payload), t.Name, t.Policy.MaxBytes),
		}}}
	}
	v, err := decodePayload(payload)
	if err != nil {
		return &ValidationError{Type: t.Name, Code: CodeSchemaInvalid, Details: []Detail{{
			Message: "payload is not valid JSON: " + err.Error(),
		}}}
	}
	err = t.schema.Validate(v)
	if err == nil {
		return nil
	}
	verr := &ValidationError{Type: t.Name, Code: CodeSchemaInvalid}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// An infinite $ref loop: the schema's fault, but the payload is not accepted.
		verr.Details = []Detail{{Message: err.Error()}}
		return verr
	}
	for _, l := range leaves(ve, nil) {
		for _, d := range details(l) {
			if len(verr.Details) == maxDetails {
				return verr
			}
			verr.Details = append(verr.Details, d)
		}
	}
	return verr
}

// missingPrefix starts the library's message for a failed "required".
const missingPrefix = "missing properties: "

// details turns one failing leaf into details. A missing required property points
// at the property itself (/title), not at the object that lacks it, so that the
// pointer names the field to fix.
func details(l *jsonschema.ValidationError) []Detail {
	rest, ok := strings.CutPrefix(l.Message, missingPrefix)
	if !ok {
		return []Detail{{Pointer: l.InstanceLocation, Message: l.Message}}
	}
	var out []Detail
	for _, name := range strings.Split(rest, ", ") {
		name = strings.Trim(name, "'")
		ptr := l.InstanceLocation + "/" + strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
		out = append(out, Detail{Pointer: ptr, Message: "required property is missing"})
	}
	return out
}

// decodePayload parses exactly one JSON value, keeping numbers exact.
func decodePayload(payload []byte) (any, error) {
	if v, ok := plainValue(payload); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// leaves appends the causes of ve that have no causes themselves: the failing
// keywords, each with the payload location it failed at.
func leaves(ve *jsonschema.ValidationError, dst []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(dst, ve)
	}
	for _, c := range ve.Causes {
		dst = leaves(c, dst)
	}
	return dst
}
