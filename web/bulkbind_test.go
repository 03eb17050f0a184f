package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/web/webtest"
)

// bbUpload posts a bulk-binding file as a browser's multipart form would.
func bbUpload(t *testing.T, app *webtest.App, c *webtest.Client, authID int64, name string, data []byte) *webtest.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("authenticator", fmt.Sprint(authID))
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, app.URL()+"/admin/bindings/import", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", app.URL())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// bbPreview uploads a file and returns its preview page's path, the page, and its apply form.
func bbPreview(t *testing.T, app *webtest.App, c *webtest.Client, authID int64, data string) (string, *webtest.Response, url.Values) {
	t.Helper()
	r := bbUpload(t, app, c, authID, "users.csv", []byte(data))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/admin/bindings/import/") {
		t.Fatalf("upload: %d %q %s", r.StatusCode, r.Location(), r.Find("[data-testid=error-file]").Text())
	}
	page := c.Get(r.Location())
	if page.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d", page.StatusCode)
	}
	form := url.Values{}
	page.Find("[data-testid=bulkbind-apply-form] input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	return r.Location(), page, form
}

func bbCount(r *webtest.Response, kind string) string {
	return strings.TrimSpace(r.Find("[data-testid=count-" + kind + "] .stat-value").Text())
}

func bbSetup(t *testing.T, app *webtest.App) (models.Authenticator, map[string]models.User) {
	t.Helper()
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "wwcorp", AgentID: 1, Secret: "s"})
	users := map[string]models.User{}
	for i, name := range []string{"alice", "bob", "carol", "dave"} {
		users[name] = app.CreateUser(name, "", false, fmt.Sprintf("1380000000%d", i))
	}
	return a, users
}

func TestBulkBindPreviewAndApply(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		a, users := bbSetup(t, app)
		ctx := context.Background()
		if err := app.Store.CreateBinding(ctx, &models.Binding{UserID: users["carol"].ID, AuthenticatorID: a.ID, Subject: "carol.wx"}); err != nil {
			t.Fatal(err)
		}
		// As Excel saves it: BOM, CRLF, a header, a mobile-keyed file.
		file := "\xEF\xBB\xBFmobile,wecom_userid\r\n13800000000,alice.wx\r\n138 0000 0001,bob.wx\r\n13800000002,carol.wx\r\n13999999999,x.wx\r\n13800000003,carol.wx\r\n"
		path, page, form := bbPreview(t, app, admin, a.ID, file)

		t.Run("the dry run counts and explains each line and binds nothing", func(t *testing.T) {
			for kind, want := range map[string]string{"bind": "2", "skip": "1", "conflict": "2", "invalid": "0"} {
				if got := bbCount(page, kind); got != want {
					t.Errorf("%s: %q, want %q", kind, got, want)
				}
			}
			problems := page.Find("[data-testid=bulkbind-problems] [data-testid=bulkbind-row]")
			text := problems.Text()
			for _, want := range []string{"already bound to this userid", "no user with this mobile", "this userid is bound to another user (carol)"} {
				if !strings.Contains(text, want) {
					t.Errorf("problems lack %q: %s", want, text)
				}
			}
			if l := page.Find("[data-testid=bulkbind-row][data-line='6']").AttrOr("data-result", ""); l != "conflict" {
				t.Errorf("line 6 is %q", l)
			}
			if n, _ := app.Store.CountBindings(ctx, a.ID); n != 1 {
				t.Errorf("%d bindings after a dry run", n)
			}
		})

		t.Run("the dry run downloads as CSV with a BOM", func(t *testing.T) {
			r := admin.Get(path + "/result.csv")
			if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Body, "\xEF\xBB\xBFline,key,username,wecom_userid,result,reason\r\n") ||
				!strings.Contains(r.Body, "3,'138 0000 0001,bob,bob.wx,bind,") && !strings.Contains(r.Body, "3,138 0000 0001,bob,bob.wx,bind,") {
				t.Errorf("%d %q", r.StatusCode, r.Body)
			}
		})

		t.Run("applying binds the rows with the corp and audits once with counts", func(t *testing.T) {
			r := admin.Post("/admin/bindings/import/apply", form)
			if r.StatusCode != http.StatusSeeOther || r.Location() != path {
				t.Fatalf("apply: %d %q", r.StatusCode, r.Location())
			}
			for name, subject := range map[string]string{"alice": "alice.wx", "bob": "bob.wx"} {
				b, err := app.Store.BindingBySubject(ctx, a.ID, subject)
				if err != nil || b.UserID != users[name].ID || b.CorpID != "wwcorp" {
					t.Errorf("%s: %+v %v", name, b, err)
				}
			}
			ev, err := app.Store.ListAudit(ctx, models.AuditFilter{Action: models.ActionBindingImport}, 0, 10)
			if err != nil || len(ev.Events) != 1 {
				t.Fatalf("audit: %+v %v", ev, err)
			}
			var d map[string]any
			_ = json.Unmarshal([]byte(ev.Events[0].Detail), &d)
			if d["bound"] != 2.0 || d["skipped"] != 1.0 || d["conflicts"] != 2.0 || d["rows"] != 5.0 {
				t.Errorf("audit detail %v", d)
			}
			done := admin.Get(path)
			if bbCount(done, "bind") != "2" || done.Find("[data-testid=bulkbind-apply-form]").Length() != 0 {
				t.Errorf("result page: %s", done.Find("main").Text())
			}
			res := admin.Get(path + "/result.csv")
			if !strings.Contains(res.Body, ",alice,alice.wx,bind,") {
				t.Errorf("result csv %q", res.Body)
			}
		})

		t.Run("applying twice binds once", func(t *testing.T) {
			r := admin.Post("/admin/bindings/import/apply", form)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("second apply: %d", r.StatusCode)
			}
			ev, _ := app.Store.ListAudit(ctx, models.AuditFilter{Action: models.ActionBindingImport}, 0, 10)
			if len(ev.Events) != 1 {
				t.Errorf("%d import events", len(ev.Events))
			}
		})
	})
}

func TestBulkBindChangedSincePreviewAppliesNothing(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		a, users := bbSetup(t, app)
		ctx := context.Background()
		_, _, form := bbPreview(t, app, admin, a.ID, "username,wecom_userid\nalice,alice.wx\nbob,bob.wx\n")
		// Meanwhile bob signs in with WeCom (or another admin binds him) under another userid.
		if err := app.Store.CreateBinding(ctx, &models.Binding{UserID: users["bob"].ID, AuthenticatorID: a.ID, Subject: "bob.other"}); err != nil {
			t.Fatal(err)
		}
		r := admin.Post("/admin/bindings/import/apply", form)
		if r.StatusCode != http.StatusConflict || r.Find("[data-testid=bulkbind-changed]").Length() != 1 {
			t.Fatalf("apply: %d", r.StatusCode)
		}
		if got := r.Find("[data-testid=bulkbind-row][data-line='3']").AttrOr("data-result", ""); got != "conflict" {
			t.Errorf("the new preview shows line 3 as %q", got)
		}
		if _, err := app.Store.BindingBySubject(ctx, a.ID, "alice.wx"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("alice was bound although the plan changed: %v", err)
		}
		// The new preview's form applies the new plan.
		next := url.Values{}
		r.Find("[data-testid=bulkbind-apply-form] input[type=hidden]").Each(func(_ int, s *goquery.Selection) { next.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
		if r := admin.Post("/admin/bindings/import/apply", next); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("apply the new preview: %d", r.StatusCode)
		}
		if _, err := app.Store.BindingBySubject(ctx, a.ID, "alice.wx"); err != nil {
			t.Errorf("alice: %v", err)
		}
	})
}

func TestBulkBindRefusesBadFiles(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		admin.Language = "zh-CN"
		a, _ := bbSetup(t, app)
		pw, err := app.Store.AuthenticatorByName(context.Background(), models.PasswordAuthenticatorName)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			auth   int64
			data   []byte
			status int
			error  string
		}{
			{"a GBK file asks for UTF-8", a.ID, []byte("username,userid\n\xd5\xc5\xc8\xfd,zs\n"), 422, "不是 UTF-8"},
			{"an empty file", a.ID, []byte("username,userid\r\n"), 422, "没有数据行"},
			{"more than 50,000 rows", a.ID, []byte(strings.Repeat("a,b\n", 50001)), 422, "50,000"},
			{"the password authenticator is not a WeCom one", pw.ID, []byte("alice,a\n"), 422, "企业微信认证方式"},
			{"an unknown authenticator", 999999, []byte("alice,a\n"), 422, "企业微信认证方式"},
			{"a file just over 2 MiB", a.ID, bytes.Repeat([]byte("a,b\n"), 2<<20/4+1000), 422, "2 MiB"},
			{"a body far over the route's limit", a.ID, bytes.Repeat([]byte("a,b\n"), 3<<20/4), http.StatusRequestEntityTooLarge, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := bbUpload(t, app, admin, tt.auth, "f.csv", tt.data)
				if r.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
				}
				if tt.error != "" && !strings.Contains(r.Find("[data-testid=error-file]").Text(), tt.error) {
					t.Errorf("error %q, want %q", r.Find("[data-testid=error-file]").Text(), tt.error)
				}
			})
		}
	})
}

func TestSecurityBulkBindImportBelongsToItsAdmin(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "root2", true)
		admin, other := fxSignedIn(t, app, "root"), fxSignedIn(t, app, "root2")
		a, _ := bbSetup(t, app)
		path, _, form := bbPreview(t, app, admin, a.ID, "alice,alice.wx\n")
		tests := []struct {
			name string
			do   func() *webtest.Response
			want int
		}{
			{"another admin cannot see the preview", func() *webtest.Response { return other.Get(path) }, 404},
			{"another admin cannot download it", func() *webtest.Response { return other.Get(path + "/result.csv") }, 404},
			{"another admin cannot apply it", func() *webtest.Response { return other.Post("/admin/bindings/import/apply", form) }, 404},
			{"a guessed id is not found", func() *webtest.Response {
				return admin.Post("/admin/bindings/import/apply", url.Values{"import": {strings.Repeat("0", 32)}, "fingerprint": form["fingerprint"]})
			}, 404},
			{"a forged fingerprint applies nothing", func() *webtest.Response {
				return admin.Post("/admin/bindings/import/apply", url.Values{"import": form["import"], "fingerprint": {"forged"}})
			}, 409},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if r := tt.do(); r.StatusCode != tt.want {
					t.Fatalf("status %d, want %d", r.StatusCode, tt.want)
				}
				if n, _ := app.Store.CountBindings(context.Background(), a.ID); n != 0 {
					t.Errorf("%d bindings", n)
				}
			})
		}
	})
}
