package schemas_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldpush/herald/schemas"
)

const appType = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
"x-herald":{"description":"an app type","directions":["service_to_device"],"priority":"normal","ttl":60,"max_bytes":1024}}`

func TestLoad(t *testing.T) {
	builtin, err := schemas.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.thing.v1.json"), []byte(appType), 0o644); err != nil {
		t.Fatal(err)
	}
	withApp, err := schemas.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(withApp.List()), len(builtin.List())+1; got != want {
		t.Errorf("%d types with the app's, want %d", got, want)
	}
	if err := withApp.Validate("app.thing.v1", []byte(`{}`)); err != nil {
		t.Errorf("the app's type: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.v1.json"), []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.Load(dir); err == nil || !strings.HasPrefix(err.Error(), "loading message types: ") {
		t.Errorf("a bad schema file: %v", err)
	}
}

func TestWriteGenerated(t *testing.T) {
	name := filepath.Join(t.TempDir(), "src", "generated", "types.gen.ts")
	for _, src := range []string{"first\n", "second\n"} {
		if err := schemas.WriteGenerated(name, []byte(src)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(name)
		if err != nil || string(b) != src {
			t.Fatalf("file holds %q, %v; want %q", b, err, src)
		}
	}
	st, err := os.Stat(name)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Errorf("%d files beside the generated one, want none: %v", len(entries)-1, entries)
	}
	if err := schemas.WriteGenerated(filepath.Dir(name), []byte("x")); err == nil || !strings.HasPrefix(err.Error(), "writing ") {
		t.Errorf("writing over a directory: %v", err)
	}
}
