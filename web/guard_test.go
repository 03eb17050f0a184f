package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/web/webtest"
)

// fxRoutes mirrors the admin and state-changing routes of web/routes.go with real ids filled in.
type fxRoute struct{ method, path string }

func fxAdminRoutes(userID, authID, bindingID int64) []fxRoute {
	u := "/admin/users/" + strconv.FormatInt(userID, 10)
	a := "/admin/authenticators/" + strconv.FormatInt(authID, 10)
	return []fxRoute{
		{"GET", "/admin"},
		{"GET", "/admin/users"},
		{"GET", "/admin/users/new"},
		{"POST", "/admin/users"},
		{"GET", u},
		{"POST", u},
		{"POST", u + "/sessions/revoke"},
		{"POST", u + "/bindings/" + strconv.FormatInt(bindingID, 10) + "/delete"},
		{"GET", "/admin/authenticators"},
		{"GET", "/admin/authenticators/new"},
		{"POST", "/admin/authenticators"},
		{"GET", a},
		{"POST", a},
		{"POST", a + "/delete"},
		{"POST", a + "/test"},
		{"POST", a + "/toggle"},
		{"POST", a + "/move"},
		{"GET", "/admin/audit"},
	}
}

// fxWorld is an app with an admin, a member bound to a WeCom authenticator, and their ids.
type fxWorld struct {
	app                    *webtest.App
	admin, member          models.User
	auth                   models.Authenticator
	binding                models.Binding
	adminClient, memClient *webtest.Client
}

func newFxWorld(t *testing.T, app *webtest.App) *fxWorld {
	t.Helper()
	w := &fxWorld{app: app, admin: fxUser(t, app, "root", true), member: fxUser(t, app, "mem", false)}
	w.auth = app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: "s3cret-value"})
	w.binding = models.Binding{UserID: w.member.ID, AuthenticatorID: w.auth.ID, Subject: "mem", CorpID: "ww1"}
	if err := app.Store.CreateBinding(context.Background(), &w.binding); err != nil {
		t.Fatal(err)
	}
	w.adminClient, w.memClient = fxSignedIn(t, app, "root"), fxSignedIn(t, app, "mem")
	return w
}

func (w *fxWorld) routes() []fxRoute { return fxAdminRoutes(w.member.ID, w.auth.ID, w.binding.ID) }

func fxSend(c *webtest.Client, r fxRoute) *webtest.Response {
	if r.method == http.MethodPost {
		return c.Post(r.path, url.Values{})
	}
	return c.Get(r.path)
}

func TestAdminRoutesAreGuarded(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newFxWorld(t, app)
		before := fxSnapshot(t, app)
		for _, rt := range w.routes() {
			t.Run("anonymous "+rt.method+" "+rt.path, func(t *testing.T) {
				r := fxSend(app.Client(), rt)
				want := "/signin?redirect=" + url.QueryEscape(rt.path)
				if rt.method == http.MethodPost {
					want = "/signin"
				}
				if r.StatusCode != http.StatusSeeOther || r.Location() != want {
					t.Fatalf("%d %q, want 303 %q", r.StatusCode, r.Location(), want)
				}
			})
			t.Run("member "+rt.method+" "+rt.path, func(t *testing.T) {
				r := fxSend(w.memClient, rt)
				if r.StatusCode != http.StatusForbidden || r.Find("main, body").Length() == 0 {
					t.Fatalf("%d, want a 403 page", r.StatusCode)
				}
			})
		}
		if after := fxSnapshot(t, app); stripSessionsAndAudit(after) != stripSessionsAndAudit(before) {
			t.Fatalf("refused requests changed data:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if r := w.adminClient.Get("/admin/users"); r.StatusCode != http.StatusOK {
			t.Fatalf("the admin is refused: %d", r.StatusCode)
		}
	})
}

// stripSessionsAndAudit drops rows that guarded requests may touch legitimately (sessions slide, and
// nothing else): what matters is that users, authenticators and bindings did not change.
func stripSessionsAndAudit(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "sessions:") || strings.HasPrefix(line, "audit_events:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

func TestAdminPathVariants(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newFxWorld(t, app)
		variants := []string{"/admin/", "/ADMIN", "/Admin/users", "/admin/%2e/users", "/admin/./users", "/admin/../admin/users",
			"//admin", "//admin/users", "/admin//users", "/admin/users/", "/%61dmin", "/%61dmin/users", "/admin%2fusers", "/admin/users%2f",
			"/admin;/users", "/admin/users;x", "/admin/users/.", "/admin/users/%2e", "/admin\\users", "/admin/audit/",
			"//evil.example/admin/users/", "///evil.example/admin/", "/\\evil.example/admin/"}
		clients := []struct {
			name string
			c    *webtest.Client
		}{{"anonymous", app.Client()}, {"member", w.memClient}}
		for _, cl := range clients {
			for _, v := range variants {
				t.Run(cl.name+" "+v, func(t *testing.T) {
					target := app.URL() + v
					for hop := 0; ; hop++ {
						req, err := http.NewRequest(http.MethodGet, target, nil)
						if err != nil {
							t.Fatal(err)
						}
						req.URL.RawPath, req.URL.Opaque = "", ""
						if strings.HasPrefix(target, app.URL()) {
							req.URL.Opaque = "//" + req.URL.Host + strings.TrimPrefix(target, app.URL()) // send the path exactly as written
						}
						r := cl.c.Do(req)
						if r.StatusCode >= 300 && r.StatusCode < 400 {
							if hop == 3 {
								t.Fatalf("more than 3 redirects, last to %q", r.Location())
							}
							next, err := url.Parse(target)
							if err != nil {
								t.Fatal(err)
							}
							next, err = next.Parse(r.Location())
							if err != nil || next.Host != req.URL.Host {
								t.Fatalf("redirected off site to %q", r.Location())
							}
							target = next.String()
							continue
						}
						switch {
						case r.StatusCode == http.StatusNotFound, r.StatusCode == http.StatusForbidden:
						case r.StatusCode == http.StatusOK && r.Find("[data-testid=signin]").Length() == 1:
						default:
							t.Fatalf("ended on %s with %d (dashboard %d, users %d)", target, r.StatusCode,
								r.Find("[data-testid=dashboard]").Length(), r.Find("[data-testid=users]").Length())
						}
						if cl.name == "member" && r.StatusCode == http.StatusOK {
							t.Fatalf("a signed-in member was sent to the sign-in page at %s instead of 403", target)
						}
						return
					}
				})
			}
		}
	})
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newFxWorld(t, app)
		posts := []fxRoute{{"POST", "/signin"}, {"POST", "/signout"}, {"POST", "/lang"}, {"POST", "/account/sessions/revoke-others"}}
		for _, rt := range w.routes() {
			if rt.method == http.MethodPost {
				posts = append(posts, rt)
			}
		}
		forms := map[string]url.Values{
			"/signin":      fxForm("username", "root", "password", fxPassword),
			"/lang":        fxForm("lang", "zh"),
			"/admin/users": fxForm("username", "csrf-made", "password", "csrf-password", "is_admin", "on"),
			"/admin/users/" + strconv.FormatInt(w.member.ID, 10):                    fxForm("nickname", "pwned", "is_admin", "on"),
			"/admin/authenticators":                                                 fxForm("type", "wecom", "name", "evil", "title", "Evil", "corp_id", "ww9", "agent_id", "1", "secret", "x", "origin", "http://127.0.0.1", "enabled", "on"),
			"/admin/authenticators/" + strconv.FormatInt(w.auth.ID, 10) + "/delete": fxForm("confirm", "yes"),
		}
		headers := []struct {
			name string
			set  func(h http.Header)
		}{
			{"Sec-Fetch-Site cross-site", func(h http.Header) { h.Set("Sec-Fetch-Site", "cross-site"); h.Set("Origin", "https://evil.example") }},
			{"foreign Origin without Sec-Fetch-Site", func(h http.Header) { h.Set("Origin", "https://evil.example") }},
			{"Sec-Fetch-Site same-site (a sibling subdomain)", func(h http.Header) { h.Set("Sec-Fetch-Site", "same-site") }},
		}
		before := fxSnapshot(t, app)
		for _, rt := range posts {
			for _, hd := range headers {
				for _, who := range []struct {
					name string
					c    *webtest.Client
				}{{"admin", w.adminClient}, {"anonymous", app.Client()}} {
					t.Run(who.name+" "+rt.path+" "+hd.name, func(t *testing.T) {
						form := forms[rt.path]
						req, err := http.NewRequest(http.MethodPost, app.URL()+rt.path, strings.NewReader(form.Encode()))
						if err != nil {
							t.Fatal(err)
						}
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						hd.set(req.Header)
						r := who.c.Do(req)
						if r.StatusCode != http.StatusForbidden {
							t.Fatalf("%d, want 403", r.StatusCode)
						}
						if r.Header.Get("Set-Cookie") != "" {
							t.Fatalf("a refused request set a cookie: %q", r.Header.Get("Set-Cookie"))
						}
					})
				}
			}
		}
		if after := fxSnapshot(t, app); after != before {
			t.Fatalf("cross-site POSTs changed data:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if r := w.adminClient.Get("/admin"); r.StatusCode != http.StatusOK {
			t.Fatalf("the admin was signed out by a cross-site POST: %d", r.StatusCode)
		}
		// The same request from the site itself goes through (the refusal is about the origin).
		if r := w.adminClient.Post("/admin/users/"+strconv.FormatInt(w.member.ID, 10)+"/sessions/revoke", nil); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("same-origin POST: %d", r.StatusCode)
		}
	})
}
