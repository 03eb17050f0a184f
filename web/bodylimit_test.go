package web_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/web/webtest"
)

// multipartBody is a multipart/form-data sign-in form with a file part of size bytes.
func multipartBody(t *testing.T, size int) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("username", "alice")
	w.WriteField("password", fxPassword)
	f, _ := w.CreateFormFile("file", "big.bin")
	f.Write(bytes.Repeat([]byte("x"), size))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

// onlyReader hides a body's length, so that the client sends it chunked, without Content-Length.
type onlyReader struct{ io.Reader }

// Request bodies are bounded (64 KiB) and multipart/form-data is refused where no route takes a file:
// each refusal is a translated page with a 4xx, never a 500 or a form read half-way.
func TestSecurityRequestBodies(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "alice", false)
		mpType, mpSmall := multipartBody(t, 10)
		// Refused bodies stay under what net/http drains after the answer (256 KiB past the limit), so
		// that the client reliably reads the 413/415 instead of racing a reset while it still writes.
		_, mpLarge := multipartBody(t, 250<<10)
		form := func(extra int) []byte {
			return []byte(fxForm("username", "alice", "password", fxPassword, "pad", strings.Repeat("p", extra)).Encode())
		}
		tests := []struct {
			name        string
			contentType string
			body        []byte
			chunked     bool
			lang        string
			want        int
			heading     string
		}{
			{"multipart sign-in form", mpType, mpSmall, false, "en", http.StatusUnsupportedMediaType, "Form not accepted"},
			{"250 KB multipart upload to the sign-in form", mpType, mpLarge, false, "en", http.StatusUnsupportedMediaType, "Form not accepted"},
			{"100 KB url-encoded sign-in form", "application/x-www-form-urlencoded", form(100 << 10), false, "en", http.StatusRequestEntityTooLarge, "Request too large"},
			{"100 KB chunked sign-in form without Content-Length", "application/x-www-form-urlencoded", form(100 << 10), true, "en", http.StatusRequestEntityTooLarge, "Request too large"},
			{"250 KB chunked sign-in form, in Chinese", "application/x-www-form-urlencoded", form(250 << 10), true, "zh-CN", http.StatusRequestEntityTooLarge, "请求过大"},
			{"60 KB sign-in form is within the limit", "application/x-www-form-urlencoded", form(60 << 10), false, "en", http.StatusSeeOther, ""},
			{"chunked sign-in form within the limit", "application/x-www-form-urlencoded", form(1 << 10), true, "en", http.StatusSeeOther, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body io.Reader = bytes.NewReader(tt.body)
				if tt.chunked {
					body = onlyReader{body}
				}
				req, err := http.NewRequest(http.MethodPost, app.URL()+"/signin", body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", tt.contentType)
				req.Header.Set("Origin", app.URL())
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				req.Header.Set("Accept-Language", tt.lang)
				r := app.Client().Do(req)
				if r.StatusCode != tt.want {
					t.Fatalf("status %d, want %d", r.StatusCode, tt.want)
				}
				if got := strings.TrimSpace(r.Find("h1").First().Text()); tt.heading != "" && got != tt.heading {
					t.Fatalf("heading %q, want %q", got, tt.heading)
				}
			})
		}
	})
}

// A GET with a query but no body, and the probes, are untouched by the body limit.
func TestBodyLimitLeavesBodilessRequests(t *testing.T) {
	t.Parallel()
	app := webtest.New(t, "sqlite")
	c := app.Client()
	for _, p := range []string{"/signin?redirect=" + url.QueryEscape("/account"), "/healthz"} {
		if r := c.Get(p); r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, r.StatusCode)
		}
	}
}
