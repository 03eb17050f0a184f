package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gatehouse/web/webtest"
)

// postVerifyUpload sends the verification file as a browser's multipart upload.
func postVerifyUpload(t *testing.T, app *webtest.App, c *webtest.Client, id int64, filename, content string) *webtest.Response {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	w.Close()
	req, err := http.NewRequest(http.MethodPost, app.URL()+"/admin/authenticators/"+strconv.FormatInt(id, 10)+"/verify-file", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", app.URL())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// TestVerifyFile: the domain verification file, uploaded or pasted, is served at exactly its name as
// text/plain and shown on the authenticator page; it can be replaced and removed.
func TestVerifyFile(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "acme", Title: "Acme", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
		edit := "/admin/authenticators/" + strconv.FormatInt(a.ID, 10)

		r := postVerifyUpload(t, app, admin, a.ID, `C:\Users\me\Downloads\WW_verify_Up1oad.txt`, "up1oadCode\r\n")
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("upload: %d", r.StatusCode)
		}
		got := app.Client().Get("/WW_verify_Up1oad.txt")
		if got.StatusCode != http.StatusOK || got.Body != "up1oadCode" || got.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("served %d %q %q", got.StatusCode, got.Body, got.Header.Get("Content-Type"))
		}
		page := admin.Get(edit)
		if href, _ := page.Find("[data-testid=verify-file-link]").Attr("href"); !strings.HasSuffix(href, "/WW_verify_Up1oad.txt") {
			t.Fatalf("the edit page links to %q", href)
		}

		admin.Post(edit+"/verify-file", fxForm("name", "WW_verify_Pasted9.txt", "content", "pastedCode"))
		if got := app.Client().Get("/WW_verify_Pasted9.txt"); got.StatusCode != http.StatusOK || got.Body != "pastedCode" {
			t.Fatalf("pasted file: %d %q", got.StatusCode, got.Body)
		}
		if old := app.Client().Get("/WW_verify_Up1oad.txt"); old.StatusCode != http.StatusNotFound {
			t.Fatalf("the replaced file is still served: %d", old.StatusCode)
		}
		admin.Post(edit+"/verify-file", fxForm("remove", "yes"))
		if got := app.Client().Get("/WW_verify_Pasted9.txt"); got.StatusCode != http.StatusNotFound {
			t.Fatalf("removed file: %d", got.StatusCode)
		}
	})
}

// TestSecurityVerifyFileRefusesBadInput: names other than WW_verify_<letters and digits>.txt and content
// that is not short printable text are refused, and nothing is stored.
func TestSecurityVerifyFileRefusesBadInput(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "acme", Title: "Acme", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
		path := "/admin/authenticators/" + strconv.FormatInt(a.ID, 10) + "/verify-file"
		for _, tt := range []struct{ name, file, content string }{
			{"path traversal in the name", "WW_verify_abc.txt/..", "x"},
			{"path before the name (pasted)", "../WW_verify_abc.txt", "x"},
			{"another root file", "index.html", "<script>alert(1)</script>"},
			{"html extension", "WW_verify_abc.html", "x"},
			{"punctuation in the code", "WW_verify_a-b.txt", "x"},
			{"markup is fine text but control characters are not", "WW_verify_abc.txt", "a\x00b"},
			{"non-ASCII content", "WW_verify_abc.txt", "代码"},
			{"content over 1 KiB", "WW_verify_abc.txt", strings.Repeat("a", 1025)},
			{"empty content", "WW_verify_abc.txt", "  "},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rs := []*webtest.Response{admin.Post(path, fxForm("name", tt.file, "content", tt.content))}
				if !strings.HasPrefix(tt.file, "../") { // an upload's file name is cut to its base, as browsers may send a path
					rs = append(rs, postVerifyUpload(t, app, admin, a.ID, tt.file, tt.content))
				}
				for _, r := range rs {
					if r.StatusCode != http.StatusSeeOther {
						t.Fatalf("status %d", r.StatusCode)
					}
				}
				if got := app.Client().Get("/WW_verify_abc.txt"); got.StatusCode != http.StatusNotFound {
					t.Fatalf("a refused file is served: %d", got.StatusCode)
				}
			})
		}
	})
}

// TestSecurityVerifyFileServesOnlyItsName: the public root route serves the stored file at exactly its
// name; any other WW_verify_*.txt, a case variant or any other root path is 404.
func TestSecurityVerifyFileServesOnlyItsName(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "acme", Title: "Acme", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
		admin.Post("/admin/authenticators/"+strconv.FormatInt(a.ID, 10)+"/verify-file", fxForm("name", "WW_verify_Real1.txt", "content", "code"))
		for _, p := range []string{"/WW_verify_Other.txt", "/ww_verify_Real1.txt", "/WW_verify_real1.txt", "/WW_verify_Real1.txt.bak", "/WW_verify_Real1", "/robots.txt", "/.env"} {
			if r := app.Client().Get(p); r.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, r.StatusCode)
			}
		}
		if r := app.Client().Get("/WW_verify_Real1.txt"); r.StatusCode != http.StatusOK {
			t.Fatalf("the stored file: %d", r.StatusCode)
		}
		// Only administrators may set it.
		fxUser(t, app, "mem", false)
		mem := fxSignedIn(t, app, "mem")
		if r := mem.Post("/admin/authenticators/"+strconv.FormatInt(a.ID, 10)+"/verify-file", fxForm("name", "WW_verify_Mine.txt", "content", "x")); r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Location(), "/admin/authenticators") {
			t.Fatal("a member set the verification file")
		}
		if r := app.Client().Get("/WW_verify_Mine.txt"); r.StatusCode != http.StatusNotFound {
			t.Fatal("a member's file is served")
		}
	})
}
