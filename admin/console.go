package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// ConsolePath is where the console is served on the admin listener.
const ConsolePath = "/console/"

//go:embed console
var consoleFiles embed.FS

// consoleHandler serves the console's static files. They hold no data and
// need no key; every call the page makes does.
func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded directory exists: a build error otherwise
	}
	files := http.StripPrefix(ConsolePath, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
