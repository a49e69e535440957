package jsclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request through Handler.
func get(tb testing.TB, method, path string) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		ctype              string // a substring of the Content-Type
		body               string // a substring of the body
	}{
		{"root is the page", "GET", "/", http.StatusOK, "text/html", "<title>Herald demo</title>"},
		{"index.html", "GET", "/index.html", http.StatusOK, "text/html", `src="app.js"`},
		{"the page asks for no favicon", "GET", "/", http.StatusOK, "text/html", `<link rel="icon" href="data:,">`},
		{"app module", "GET", "/app.js", http.StatusOK, "javascript", "./sdk/index.js"},
		{"style", "GET", "/style.css", http.StatusOK, "text/css", ":root"},
		{"sdk module", "GET", "/sdk/index.js", http.StatusOK, "javascript", "HeraldClient"},
		{"head", "HEAD", "/app.js", http.StatusOK, "javascript", ""},
		{"missing file", "GET", "/nope.js", http.StatusNotFound, "", ""},
		{"missing sdk file", "GET", "/sdk/nope.js", http.StatusNotFound, "", ""},
		{"sdk directory", "GET", "/sdk/", http.StatusNotFound, "", ""},
		{"sdk without slash", "GET", "/sdk", http.StatusNotFound, "", ""},
		{"out of the tree", "GET", "/../assets.go", http.StatusNotFound, "", ""},
		{"go source", "GET", "/assets.go", http.StatusNotFound, "", ""},
		{"post", "POST", "/app.js", http.StatusMethodNotAllowed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, tt.method, tt.path)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: HTTP %d, want %d: %.200s", tt.method, tt.path, rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, ct, tt.ctype)
			}
			if !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("%s %s: body does not contain %q", tt.method, tt.path, tt.body)
			}
			if tt.status == http.StatusOK && rec.Header().Get("Cache-Control") != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", rec.Header().Get("Cache-Control"))
			}
		})
	}
}

// importRE finds the module specifiers of static imports and exports.
var importRE = regexp.MustCompile(`(?m)(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)`)

// TestImportsResolve follows every relative import from the demo's app.js through
// the SDK, as the browser does, and fails on one the handler does not serve.
func TestImportsResolve(t *testing.T) {
	seen := map[string]bool{}
	queue := []string{"/app.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		rec := get(t, "GET", p)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: HTTP %d", p, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: Content-Type %q, want JavaScript (browsers refuse modules of other types)", p, ct)
		}
		body, _ := io.ReadAll(rec.Body)
		for _, m := range importRE.FindAllStringSubmatch(string(body), -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: a browser cannot resolve a bare specifier without an import map", p, spec)
				continue
			}
			dir := p[:strings.LastIndex(p, "/")+1]
			queue = append(queue, resolve(dir, spec))
		}
	}
	if !seen["/sdk/index.js"] {
		t.Errorf("app.js does not import the SDK at ./sdk/index.js; followed %v", seen)
	}
}

// resolve joins a relative module specifier to the directory of its importer.
func resolve(dir, spec string) string {
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	for _, s := range strings.Split(spec, "/") {
		switch s {
		case ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, s)
		}
	}
	return "/" + strings.Join(parts, "/")
}
