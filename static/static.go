// Package static embeds Gatehouse's CSS, JavaScript and images and names them by content hash, so they
// can be cached for a year and still change with each release.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed css js img
var files embed.FS

// Assets serves the embedded files and builds their URLs.
type Assets struct {
	hashes map[string]string // "css/app.css" → short content hash
	urls   map[string]string // "css/app.css" → "/static/css/app.css?v=<hash>", built once
}

// New hashes every embedded file once.
func New() *Assets {
	a := &Assets{hashes: map[string]string{}, urls: map[string]string{}}
	fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hashes[path] = hex.EncodeToString(sum[:5])
		a.urls[path] = "/static/" + path + "?v=" + a.hashes[path]
		return nil
	})
	return a
}

// URL returns the cache-busting URL of an embedded file, such as "/static/css/app.css?v=1a2b3c4d5e".
func (a *Assets) URL(name string) string {
	if u, ok := a.urls[name]; ok {
		return u
	}
	return "/static/" + name
}

// Handler serves /static/*: files requested with their current hash are cached for a year.
func (a *Assets) Handler() http.Handler {
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(files)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		h, ok := a.hashes[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == h {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fileServer.ServeHTTP(w, r)
	})
}
