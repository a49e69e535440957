package jsclient

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist demo
var assets embed.FS

// SDKPrefix is the path, below the handler's root, under which Handler serves the
// SDK's modules: the demo imports "./sdk/index.js".
const SDKPrefix = "/sdk/"

// Handler serves the demo web app at its root ("/" is demo/index.html) and the SDK
// modules under SDKPrefix. Mount it with http.StripPrefix. It answers GET and HEAD
// only, lists no directories, and tells browsers to revalidate every file, so a
// rebuilt binary is picked up on the next reload.
func Handler() http.Handler {
	demo, _ := fs.Sub(assets, "demo") // the directories are embedded: no error
	dist, _ := fs.Sub(assets, "dist")
	return &handler{demo: demo, sdk: dist}
}

// handler resolves a request path to a file of demo or of the SDK.
type handler struct {
	demo, sdk fs.FS
}

// started is the modification time of every embedded file: embed.FS has none, and
// a fixed one lets If-Modified-Since work within one run of the process.
var started = time.Now()

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	fsys, name := h.resolve(r.URL.Path)
	if fsys == nil {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(fsys, name)
	if err != nil { // missing, or a directory
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, started, bytes.NewReader(body))
}

// resolve maps a URL path to the file system holding it and the file's name there;
// nil for a path that can name no file.
func (h *handler) resolve(p string) (fs.FS, string) {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean == "/" {
		return h.demo, "index.html"
	}
	fsys, name := h.demo, strings.TrimPrefix(clean, "/")
	if strings.HasPrefix(clean, SDKPrefix) {
		fsys, name = h.sdk, strings.TrimPrefix(clean, SDKPrefix)
	}
	if name == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) {
		return nil, ""
	}
	return fsys, name
}
