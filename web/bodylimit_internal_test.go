package web

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"gatehouse/models/modelstest"
)

// The upload opt-in: a route granted with uploadRoutes.POST takes multipart bodies up to its own limit,
// while its neighbours keep refusing them. (No shipped route takes a file yet, so the test grants one.)
func TestSecurityUploadOptIn(t *testing.T) {
	cfg, err := LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretKey = []byte("test-secret-key-0123456789abcdef-0123456789")
	s, err := New(cfg, modelstest.Open(t, "sqlite"), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The handler reads the file as a real upload handler would, answering 413 when the stream is cut.
	readFile := func(c *gin.Context) {
		f, _, err := c.Request.FormFile("file")
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			s.h.TooLarge(c)
			return
		}
		if err != nil {
			s.h.BadRequest(c)
			return
		}
		n, _ := io.Copy(io.Discard, f)
		c.String(http.StatusOK, strconv.FormatInt(n, 10))
	}
	r := gin.New()
	up := uploadRoutes{}
	r.Use(s.limitBody(up))
	admin := r.Group("/admin")
	// A small grant, so that refused bodies stay within what net/http drains after the answer (256 KiB)
	// and the client reliably reads the 413 instead of racing a reset while it still writes.
	up.POST(admin, "/authenticators/:id/verify-file", 200<<10, readFile)
	admin.POST("/authenticators/:id", readFile)
	srv := httptest.NewServer(r)
	defer srv.Close()

	file := func(size int, hideLength bool) (io.Reader, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		f, _ := w.CreateFormFile("file", "WW_verify_abc.txt")
		f.Write(bytes.Repeat([]byte("x"), size))
		w.Close()
		if hideLength {
			return struct{ io.Reader }{&buf}, w.FormDataContentType()
		}
		return &buf, w.FormDataContentType()
	}
	tests := []struct {
		name       string
		path       string
		size       int
		hideLength bool
		want       int
	}{
		{"100 KB file to the upload route", "/admin/authenticators/1/verify-file", 100 << 10, false, http.StatusOK},
		{"250 KB file to the upload route", "/admin/authenticators/1/verify-file", 250 << 10, false, http.StatusRequestEntityTooLarge},
		{"250 KB chunked file to the upload route", "/admin/authenticators/1/verify-file", 250 << 10, true, http.StatusRequestEntityTooLarge},
		{"small file to a route without the grant", "/admin/authenticators/1", 10, false, http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := file(tt.size, tt.hideLength)
			resp, err := http.Post(srv.URL+tt.path, ct, body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && string(got) != strconv.Itoa(tt.size) {
				t.Fatalf("the handler read %s bytes, want %d", got, tt.size)
			}
		})
	}
}
