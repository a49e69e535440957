package tsgen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

// tscPath is the TypeScript compiler the SDK pins, relative to this package
// (schemas/tsgen, two levels below the repository root).
var tscPath = filepath.Join("..", "..", "clients", "js", "node_modules", "typescript", "bin", "tsc")

// mustTypecheck writes files (name to content) into a fresh directory and runs
// `tsc --noEmit --strict` on them, as strict as the SDK's build. Without node or
// the SDK's node_modules it skips, unless CI=true, where it fails.
func mustTypecheck(tb testing.TB, files map[string][]byte) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(tscPath)
	}
	if err != nil {
		msg := "needs node and clients/js/node_modules/typescript (cd clients/js && npm ci): " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tsc, err := filepath.Abs(tscPath)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range files {
			if !yield(name) {
				return
			}
		}
	})
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	// The deadline only keeps a stuck compiler from stalling the tests.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{tsc, "--noEmit", "--strict", "--noUnusedLocals", "--exactOptionalPropertyTypes",
		"--target", "ES2022", "--module", "ES2022", "--moduleResolution", "Bundler", "--pretty", "false"}, names...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		var src strings.Builder
		for _, name := range names {
			src.WriteString("// " + name + "\n" + string(files[name]) + "\n")
		}
		tb.Fatalf("tsc: %v\n%s\n%s", err, out, src.String())
	}
}

// tsBuiltinFixture uses the types of the built-in message types as an app would,
// with wrong payloads that must stay errors.
const tsBuiltinFixture = `import { heraldTypeNames } from './types.gen.js';
import type { HeraldMessageTypes } from './types.gen.js';

class Sender<Types extends Record<string, unknown> = Record<string, unknown>> {
  send<T extends keyof Types & string>(to: { account: string; device?: string }, type: T, payload: Types[T]): void {
    void [to, type, payload];
  }
}
const c = new Sender<HeraldMessageTypes>();
const to = { account: 'a1', device: 'tv1' };
c.send(to, 'playback.control.v1', { action: 'seek', position_ms: 5 });
c.send(to, 'app.restart.v1', { reason: 'update', delay_ms: 10, clear_cache: true });
c.send(to, 'profile.updated.v1', { profile_id: 'p1', fields: ['name'] });
// @ts-expect-error
c.send(to, 'playback.control.v1', { action: 'jump' });
// @ts-expect-error
c.send(to, 'playback.control.v1', {});
// @ts-expect-error
c.send(to, 'playback.control.v1', { action: 'volume', volume: 'loud' });
// @ts-expect-error
c.send(to, 'no.such.v1', {});
const names: readonly (keyof HeraldMessageTypes)[] = heraldTypeNames;
void names;
`

// tsAppSchemas are app types that use most of the translated constructs.
var tsAppSchemas = map[string]string{
	"shop.cart.v1.json": `{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"description": "A cart changed: */ and @tags in a description.",
		"type": "object", "additionalProperties": false, "required": ["cart", "with-dash"],
		"properties": {
			"cart": {"$ref": "#/$defs/cart"},
			"with-dash": {"enum": ["it's", "a\\b", "new\nline", 1, null]},
			"note": {"type": ["string", "null"], "maxLength": 10},
			"tags": {"type": "object", "additionalProperties": {"type": "string"}},
			"pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false, "minItems": 2},
			"pick": {"oneOf": [{"type": "string", "format": "email"}, {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}]},
			"both": {"allOf": [{"$ref": "#/$defs/named"}, {"type": "object", "properties": {"extra": {"type": "boolean"}}}]},
			"mode": {"enum": ["a", "b"]},
			"detail": {"type": "string"},
			"anything": {}
		},
		"if": {"properties": {"mode": {"const": "b"}}, "required": ["mode"]},
		"then": {"required": ["detail"]},
		"$defs": {
			"cart": {"type": "object", "required": ["items"], "properties": {
				"items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
				"parent": {"$ref": "#/$defs/cart"}}},
			"item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}, "bundle": {"type": "array", "items": {"$ref": "#/$defs/item"}}}},
			"named": {"type": "object", "properties": {"name": {"type": "string"}}}
		},
		"x-herald": {"directions": ["service_to_device"], "description": "A cart changed."}
	}`,
	"shop.ping.v1.json": `{"x-herald": {"directions": ["device_to_device"], "description": "Anything goes."}}`,
}

// tsAppFixture uses the app types as an app would.
const tsAppFixture = `import type { HeraldMessageTypes, ShopCartV1 } from './types.gen.js';

const cart: ShopCartV1 = {
  cart: { items: [{ sku: 'a', bundle: [{ sku: 'b' }] }], parent: { items: [] } },
  'with-dash': "it's",
  note: null,
  tags: { colour: 'red' },
  pair: ['x', 1],
  pick: { id: 3 },
  both: { name: 'n', extra: true },
  mode: 'b',
};
const ping: HeraldMessageTypes['shop.ping.v1'] = 42;
// @ts-expect-error
const wrong: ShopCartV1 = { cart: { items: [{ sku: 1 }] }, 'with-dash': null };
// @ts-expect-error
const short: ShopCartV1 = { cart: { items: [] }, 'with-dash': 1, pair: ['x'] };
void [cart, ping, wrong, short];
`

func TestSchemaTSCompiles(t *testing.T) {
	t.Run("built-in types", func(t *testing.T) {
		types, err := protocol.LoadTypes(schemas.FS)
		if err != nil {
			t.Fatal(err)
		}
		mustTypecheck(t, map[string][]byte{"types.gen.ts": Generate(types.List()), "fixture.ts": []byte(tsBuiltinFixture)})
	})
	t.Run("built-in and app types", func(t *testing.T) {
		dir := t.TempDir()
		for name, doc := range tsAppSchemas {
			mustWrite(t, filepath.Join(dir, name), doc)
		}
		types, err := protocol.LoadTypes(schemas.FS, os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		gen := Generate(types.List())
		for _, w := range []string{"'shop.cart.v1': ShopCartV1;", "export type ShopCartV1Cart = {", "export type ShopCartV1Item = {",
			"when `mode` is `'b'`, `detail` is required", "export type ShopPingV1 = unknown;"} {
			if !strings.Contains(string(gen), w) {
				t.Errorf("output lacks %q", w)
			}
		}
		mustTypecheck(t, map[string][]byte{"types.gen.ts": gen, "fixture.ts": []byte(tsBuiltinFixture), "app.ts": []byte(tsAppFixture)})
	})
}
