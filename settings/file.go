package settings

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// applyFile sets every flag of fs that neither the command line nor the
// environment set from the configuration file at path, and records their origin.
//
// The file is YAML or JSON (JSON is YAML): one mapping whose keys are flag names
// and whose values are scalars, or lists for the list flags (--token-secret,
// --redis-addr, ...). Every key must name a flag of the command, even one that the
// command line overrides, so that a typo never goes unnoticed.
func applyFile(fs *flag.FlagSet, path string, origins map[string]Origin) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return Usagef("--config: %v", err)
	}
	values, err := decodeSettings(data)
	if err != nil {
		return Usagef("config file %s: %v", path, err)
	}
	for _, kv := range values {
		f := fs.Lookup(kv.key)
		if f == nil || kv.key == ConfigFlag {
			if kv.key == ConfigFlag {
				return Usagef("config file %s, line %d: %q cannot be set in a config file", path, kv.line, kv.key)
			}
			return Usagef("config file %s, line %d: unknown setting %q for %s%s", path, kv.line, kv.key, fs.Name(), didYouMean(fs, kv.key))
		}
		_, isList := f.Value.(*List)
		if kv.list && !isList {
			return Usagef("config file %s, line %d: %s takes one value, not a list", path, kv.line, kv.key)
		}
		if src := origins[kv.key].src; src == srcFlag || src == srcEnv {
			continue // flag > env > file
		}
		if err := fs.Set(kv.key, kv.value); err != nil {
			return Usagef("config file %s, line %d: %s: invalid value %q: %v%s", path, kv.line, kv.key, shown(kv.key, kv.value), err, valueHint(f))
		}
		origins[kv.key] = Origin{src: srcFile, from: path}
	}
	return nil
}

// setting is one key of a configuration file with its value as a flag would take
// it (a list joined with commas).
type setting struct {
	key   string
	value string
	list  bool
	line  int
}

// decodeSettings reads the mapping of a configuration file. An empty file has no
// settings.
func decodeSettings(data []byte) ([]setting, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of setting names to values, such as \"drain-window: 30s\"")
	}
	seen := map[string]int{}
	var out []setting
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a setting name", k.Line)
		}
		if line, dup := seen[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %q is set twice (first on line %d)", k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		s := setting{key: k.Value, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("line %d: %s has no value", k.Line, k.Value)
			}
			s.value = v.Value
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
					return nil, fmt.Errorf("line %d: the items of %s must be plain values", it.Line, k.Value)
				}
				items = append(items, it.Value)
			}
			s.value, s.list = strings.Join(items, ","), true
		default:
			return nil, fmt.Errorf("line %d: %s must be a value or a list of values", k.Line, k.Value)
		}
		out = append(out, s)
	}
	return out, nil
}
