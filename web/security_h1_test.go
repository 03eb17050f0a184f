package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

// withQuery returns the callback URL u with its query parameter key set to value.
func withQuery(t *testing.T, u, key, value string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// TestSecurityWeComCallbackInput: a callback's code that no WeCom issued is refused before any call
// to WeCom, and a state cookie never outlives a callback, even one for an authenticator that is gone.
func TestSecurityWeComCallbackInput(t *testing.T) {
	const start = "/auth/wecom/corp/start"
	tests := []struct {
		name string
		code string
	}{
		{"over-long code is not forwarded to WeCom", strings.Repeat("a", 513)},
		{"code with a control character is not forwarded to WeCom", "abc\x01def"},
		{"code with a space is not forwarded to WeCom", "abc def"},
		{"code with non-ASCII bytes is not forwarded to WeCom", "abc\u00e9"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := w.app.Client()
					cb := withQuery(t, w.toCallback(t, c, "alice", start), "code", tt.code)
					w.sim.ResetCalls()
					r := c.Get(cb)
					if r.StatusCode != http.StatusBadRequest || r.Outcome() != "state_invalid" {
						t.Errorf("callback: %d %q, want 400 state_invalid", r.StatusCode, r.Outcome())
					}
					for _, ep := range []string{"gettoken", "getuserinfo", "getuserdetail", "user/get"} {
						if n := w.sim.Calls(ep); n != 0 {
							t.Errorf("%s called %d times", ep, n)
						}
					}
					if c.Cookie("gatehouse_session") != "" {
						t.Errorf("a session was issued")
					}
				})
			}
			t.Run("a code of 512 printable bytes still reaches WeCom", func(t *testing.T) {
				c := w.app.Client()
				cb := withQuery(t, w.toCallback(t, c, "alice", start), "code", strings.Repeat("a", 512))
				w.sim.ResetCalls()
				c.Get(cb)
				if w.sim.Calls("getuserinfo") != 1 {
					t.Errorf("getuserinfo = %d, want 1", w.sim.Calls("getuserinfo"))
				}
			})
		})
	}
}

// TestSecurityWeComStateClearedWhenUnavailable: the authenticator is disabled while the member is at
// WeCom; the callback answers authenticator_unavailable and deletes the state cookie.
func TestSecurityWeComStateClearedWhenUnavailable(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "other", CorpID: corpID, AgentID: agentID, Secret: secret})
			c := w.app.Client()
			cb := w.toCallback(t, c, "alice", "/auth/wecom/corp/start")
			a := w.a
			a.Enabled = false
			if err := w.app.Store.SaveAuthenticator(context.Background(), &a); err != nil {
				t.Fatal(err)
			}
			r := c.Get(cb)
			if r.StatusCode != http.StatusNotFound || r.Outcome() != "authenticator_unavailable" {
				t.Fatalf("callback: %d %q", r.StatusCode, r.Outcome())
			}
			cleared := false
			for _, ck := range r.Cookies() {
				if ck.Name == "gatehouse_wecom_state" && ck.MaxAge < 0 {
					cleared = true
				}
			}
			if !cleared {
				t.Errorf("the state cookie was not cleared: %v", r.Header.Values("Set-Cookie"))
			}
		})
	}
}

// TestSecurityWeComOutcomeLanguageFormNoCode: the language switch of an outcome page reached from a
// callback returns to the sign-in page, never to the callback URL with its code and state.
func TestSecurityWeComOutcomeLanguageFormNoCode(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			c := w.app.Client()
			cb := w.toCallback(t, c, "alice", "/auth/wecom/corp/start?redirect=%2Faccount")
			r := c.Get(cb) // QR without a binding: first_signin_in_client
			if r.Outcome() != "first_signin_in_client" {
				t.Fatalf("callback: %d %q", r.StatusCode, r.Outcome())
			}
			code := mustQuery(t, cb, "code")
			r.Find("form input[name=redirect]").Each(func(_ int, s *goquery.Selection) {
				v := s.AttrOr("value", "")
				if strings.Contains(v, "code=") || strings.Contains(v, "state=") || strings.Contains(v, code) {
					t.Errorf("a form field carries the callback URL: %q", v)
				}
			})
			if got := r.Find("form.lang-switch input[name=redirect]").AttrOr("value", ""); got != "/signin?redirect=%2Faccount" {
				t.Errorf("language switch returns to %q, want the sign-in page", got)
			}
			if strings.Contains(r.Body, code) {
				t.Errorf("the page shows the code")
			}
		})
	}
}

func mustQuery(t *testing.T, u, key string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query().Get(key)
}

// editForm is the edit form of w's authenticator "corp" as saved, with set applied ("" deletes).
func editForm(w *wecomWorld, set map[string]string) url.Values {
	base := map[string]string{"name": "corp", "title": "WeCom", "auto_signup": "", "api_base": "", "redirect_path": "", "mobile_redirect_path": "/m", "secret": ""}
	for k, v := range set {
		base[k] = v
	}
	return wecomFormValues(w, base)
}

// TestSecurityWeComCorpChange: re-pointing an authenticator to another corp (or API host) never lets
// a member of the new corp sign in as a user bound at the old one.
func TestSecurityWeComCorpChange(t *testing.T) {
	const otherCorp = "wwfedcba0987654321"
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			t.Run("a binding from another corp never signs in (QR)", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{})
				victim := w.app.CreateUser("victim", "", true, "")
				stale := w.a
				stale.Options.CorpID = otherCorp
				w.bind(t, stale, victim, "alice") // made when the authenticator pointed at otherCorp
				r := w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start")
				if r.Outcome() != "first_signin_in_client" {
					t.Errorf("sign-in with a stale binding: %d %q, want first_signin_in_client", r.StatusCode, r.Outcome())
				}
				if n := countRows(t, w.app).sessions; n != 0 {
					t.Errorf("%d sessions", n)
				}
			})
			t.Run("a binding from another corp is not re-bound over by a mobile match", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{AutoSignup: true})
				victim := w.app.CreateUser("victim", "", false, "")
				stale := w.a
				stale.Options.CorpID = otherCorp
				w.bind(t, stale, victim, "alice")
				w.app.CreateUser("alice", "", false, "13800000001")
				c := w.app.Client()
				c.UserAgent = wecom.UserAgentDesktop
				r := w.signIn(t, c, "alice", "/auth/wecom/corp/start")
				if r.StatusCode != http.StatusConflict || r.Outcome() != "binding_conflict" {
					t.Errorf("in-client sign-in: %d %q, want 409 binding_conflict", r.StatusCode, r.Outcome())
				}
				b, err := w.app.Store.BindingBySubject(ctx, w.a.ID, "alice")
				if err != nil || b.UserID != victim.ID || b.CorpID != otherCorp {
					t.Errorf("the stale binding was changed: %+v %v", b, err)
				}
				if n := countRows(t, w.app).sessions; n != 0 {
					t.Errorf("%d sessions", n)
				}
			})
			t.Run("changing the corp needs the secret again and the bindings' deletion confirmed", func(t *testing.T) {
				w, admin := adminWorld(t, dialect, worldSpec{})
				alice := w.app.CreateUser("alice", "", false, "")
				w.bind(t, w.a, alice, "alice")
				if r := w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
					t.Fatalf("alice signs in: %d %q", r.StatusCode, r.Outcome())
				}
				path := "/admin/authenticators/" + itoa(w.a.ID)
				before, _ := w.app.Store.AuthenticatorByID(ctx, w.a.ID)

				r := admin.Post(path, editForm(w, map[string]string{"corp_id": otherCorp}))
				if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-secret]").Text() == "" || r.Find("[data-testid=error-delete_bindings]").Text() == "" {
					t.Errorf("new corp without secret nor confirmation: %d secret=%q delete_bindings=%q", r.StatusCode,
						r.Find("[data-testid=error-secret]").Text(), r.Find("[data-testid=error-delete_bindings]").Text())
				}
				r = admin.Post(path, editForm(w, map[string]string{"corp_id": otherCorp, "secret": secret}))
				if r.StatusCode != http.StatusUnprocessableEntity || r.Find("input[name=delete_bindings]").Length() != 1 || r.Find("[data-testid=error-secret]").Length() != 0 {
					t.Errorf("new corp without confirmation: %d, want 422 with the delete_bindings question", r.StatusCode)
				}
				if got, _ := w.app.Store.AuthenticatorByID(ctx, w.a.ID); got.Options.CorpID != corpID || got.SecretSealed != before.SecretSealed {
					t.Errorf("a refused form changed the authenticator")
				}
				r = admin.Post(path, editForm(w, map[string]string{"corp_id": otherCorp, "secret": secret, "delete_bindings": "on"}))
				if r.StatusCode != http.StatusSeeOther {
					t.Fatalf("confirmed: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
				}
				if got := countRows(t, w.app); got.bindings != 0 {
					t.Errorf("%d bindings after the confirmed corp change", got.bindings)
				}
				var live int64
				w.app.Store.DB().Model(&models.Session{}).Where("user_id = ? AND revoked_at IS NULL", alice.ID).Count(&live)
				if live != 0 {
					t.Errorf("alice's WeCom session survived the corp change")
				}
				_, detail := lastAudit(t, w.app, models.ActionAuthUpdate)
				if detail["corp_id_old"] != corpID || detail["corp_id_new"] != otherCorp || detail["bindings_deleted"] != float64(1) {
					t.Errorf("audit %v", detail)
				}
			})
			t.Run("a new API host with the secret left empty is refused; the stored secret goes nowhere", func(t *testing.T) {
				var hits atomic.Int64
				evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					w.Write([]byte(`{"errcode":0,"access_token":"x","expires_in":7200}`))
				}))
				defer evil.Close()
				w, admin := adminWorld(t, dialect, worldSpec{})
				path := "/admin/authenticators/" + itoa(w.a.ID)
				r := admin.Post(path, editForm(w, map[string]string{"api_base": evil.URL}))
				if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-secret]").Text() == "" {
					t.Errorf("new API host without the secret: %d", r.StatusCode)
				}
				admin.Post(path+"/test", nil)
				if hits.Load() != 0 {
					t.Errorf("the new host received %d requests", hits.Load())
				}
				// Typed again, it is saved and audited with old and new values.
				r = admin.Post(path, editForm(w, map[string]string{"api_base": evil.URL, "secret": secret}))
				if r.StatusCode != http.StatusSeeOther {
					t.Fatalf("with the secret: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
				}
				if _, detail := lastAudit(t, w.app, models.ActionAuthUpdate); detail["api_base_old"] != "" || detail["api_base_new"] != evil.URL {
					t.Errorf("audit %v", detail)
				}
			})
		})
	}
}

// TestSecurityWeComAPIBase: the API host the secret is sent to is an https URL (or loopback, or a host
// the operator allowed http to), without credentials, query or fragment that could redirect it.
func TestSecurityWeComAPIBase(t *testing.T) {
	allow := func(c *web.Config, _ *web.Options) { c.WeComAllowHTTP = []string{"wecom-proxy.internal"} }
	tests := []struct {
		name, base string
		ok         bool
	}{
		{"fragment", "https://qyapi.example.com/#x", false},
		{"userinfo", "https://user:pw@qyapi.example.com", false},
		{"userinfo that hides another host", "https://qyapi.weixin.qq.com@evil.example", false},
		{"query", "https://qyapi.example.com/?a=1", false},
		{"empty query", "https://qyapi.example.com/?", false},
		{"plain http to a public host", "http://qyapi.example.com", false},
		{"plain http to a host the operator allowed", "http://wecom-proxy.internal:8080", true},
		{"plain http to loopback", "http://127.0.0.1:9", true},
		{"https with a path", "https://qyapi.example.com/wecom", true},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w, c := adminWorld(t, dialect, worldSpec{AppOptions: []webtest.Option{allow}})
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := c.Post("/admin/authenticators", wecomFormValues(w, map[string]string{"name": "x" + itoa(int64(i)), "api_base": tt.base}))
					if tt.ok && r.StatusCode != http.StatusSeeOther {
						t.Errorf("%q refused: %d %s", tt.base, r.StatusCode, r.Find("[data-testid^=error-]").Text())
					}
					if !tt.ok && (r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-api_base]").Text() == "") {
						t.Errorf("%q: %d, want 422 with an api_base error", tt.base, r.StatusCode)
					}
				})
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSecurityWeComPrivilegedMobileMatch: a WeCom member whose mobile matches an administrator or an
// account with a password is never bound on the mobile alone: the account's password is asked first.
func TestSecurityWeComPrivilegedMobileMatch(t *testing.T) {
	const start = "/auth/wecom/corp/start?redirect=%2Faccount"
	const confirm = "/auth/wecom/corp/confirm"
	const password = "correct horse battery"
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			// ask brings a fresh in-client browser, as member alice, to the confirm page.
			ask := func(t *testing.T, w *wecomWorld) (*webtest.Client, *webtest.Response) {
				t.Helper()
				c := w.app.Client()
				c.UserAgent = wecom.UserAgentDesktop
				r := w.signIn(t, c, "alice", start)
				return c, r
			}
			nothingBound := func(t *testing.T, w *wecomWorld) {
				t.Helper()
				if got := countRows(t, w.app); got.bindings != 0 || got.sessions != 0 {
					t.Errorf("%d bindings and %d sessions, want none", got.bindings, got.sessions)
				}
			}
			for _, admin := range []bool{true, false} {
				name := "user with a password"
				if admin {
					name = "admin with a password"
				}
				t.Run(name+": the password is asked, nothing bound before", func(t *testing.T) {
					w := newWorld(t, dialect, worldSpec{})
					u := w.app.CreateUser("alice", password, admin, "13800000001")
					c, r := ask(t, w)
					if r.StatusCode != http.StatusOK || r.Outcome() != "confirm_password" || r.Find("form[action='"+confirm+"'] input[name=password]").Length() != 1 {
						t.Fatalf("mobile match: %d %q, want 200 confirm_password with a password form", r.StatusCode, r.Outcome())
					}
					nothingBound(t, w)

					r = c.Post(confirm, url.Values{"password": {"wrong password"}})
					if r.Outcome() != "confirm_password" || r.Find("[data-testid=error-password]").Text() == "" {
						t.Errorf("wrong password: %d %q, want the page again with an error", r.StatusCode, r.Outcome())
					}
					nothingBound(t, w)

					r = c.Post(confirm, url.Values{"password": {password}})
					if r.StatusCode != http.StatusSeeOther || r.Location() != "/account" {
						t.Fatalf("right password: %d %q", r.StatusCode, r.Location())
					}
					if b, err := w.app.Store.BindingBySubject(ctx, w.a.ID, "alice"); err != nil || b.UserID != u.ID || b.CorpID != corpID {
						t.Errorf("binding %+v %v", b, err)
					}
					if got := countRows(t, w.app).sessions; got != 1 {
						t.Errorf("%d sessions, want 1", got)
					}
					if page := c.Get("/account"); page.StatusCode != http.StatusOK {
						t.Errorf("signed in: /account answers %d", page.StatusCode)
					}
					// The pending binding worked once.
					if r := c.Post(confirm, url.Values{"password": {password}}); r.Outcome() != "state_invalid" {
						t.Errorf("second confirm: %d %q, want state_invalid", r.StatusCode, r.Outcome())
					}
				})
			}
			t.Run("a copied pending binding is single use", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{})
				w.app.CreateUser("alice", password, true, "13800000001")
				c := w.app.Client()
				c.UserAgent = wecom.UserAgentDesktop
				r := c.Get(w.toCallback(t, c, "alice", start))
				var pending string
				for _, ck := range r.Cookies() {
					if ck.Name == "gatehouse_wecom_bind" {
						pending = ck.Value
					}
				}
				if pending == "" {
					t.Fatalf("no pending binding cookie: %d %q", r.StatusCode, r.Outcome())
				}
				if r := c.Post(confirm, url.Values{"password": {password}}); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("confirm: %d", r.StatusCode)
				}
				replay := w.app.Client()
				replay.SetCookie("gatehouse_wecom_bind", pending)
				if r := replay.Post(confirm, url.Values{"password": {password}}); r.Outcome() != "state_invalid" || replay.Cookie("gatehouse_session") != "" {
					t.Errorf("replayed pending binding: %d %q", r.StatusCode, r.Outcome())
				}
			})
			t.Run("another browser without the pending binding cannot confirm", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{})
				w.app.CreateUser("alice", password, true, "13800000001")
				ask(t, w)
				other := w.app.Client()
				if r := other.Post(confirm, url.Values{"password": {password}}); r.StatusCode != http.StatusBadRequest || r.Outcome() != "state_invalid" {
					t.Errorf("confirm without the cookie: %d %q", r.StatusCode, r.Outcome())
				}
				nothingBound(t, w)
			})
			t.Run("a pending binding expires after 10 minutes", func(t *testing.T) {
				clk := &clock{}
				w := newWorld(t, dialect, worldSpec{AppOptions: []webtest.Option{webtest.WithClock(clk.Now)}})
				w.app.CreateUser("alice", password, true, "13800000001")
				c, r := ask(t, w)
				if r.Outcome() != "confirm_password" {
					t.Fatalf("mobile match: %d %q", r.StatusCode, r.Outcome())
				}
				clk.Advance(11 * time.Minute)
				if r := c.Post(confirm, url.Values{"password": {password}}); r.Outcome() != "state_invalid" {
					t.Errorf("confirm after 11 minutes: %d %q, want state_invalid", r.StatusCode, r.Outcome())
				}
				nothingBound(t, w)
			})
			t.Run("password guesses on the confirm page are throttled", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{})
				w.app.CreateUser("alice", password, true, "13800000001")
				c, _ := ask(t, w)
				var last *webtest.Response
				for range 6 {
					last = c.Post(confirm, url.Values{"password": {"guess"}})
				}
				if last.StatusCode != http.StatusTooManyRequests || last.Find("[data-testid=error-password]").Text() == "" {
					t.Errorf("sixth guess: %d, want 429 with the wait", last.StatusCode)
				}
				if r := c.Post(confirm, url.Values{"password": {password}}); r.StatusCode != http.StatusTooManyRequests {
					t.Errorf("right password while throttled: %d, want 429", r.StatusCode)
				}
				nothingBound(t, w)
			})
			t.Run("an admin without a password is never bound by mobile", func(t *testing.T) {
				w := newWorld(t, dialect, worldSpec{})
				w.app.CreateUser("alice", "", true, "13800000001")
				_, r := ask(t, w)
				if r.StatusCode != http.StatusForbidden || r.Outcome() != "bind_by_admin" {
					t.Errorf("mobile match on a password-less admin: %d %q", r.StatusCode, r.Outcome())
				}
				nothingBound(t, w)
			})
		})
	}
}

// TestWeComParallelFirstSignIn: the same new member signs up from two devices at once (auto-signup,
// or a mobile match of an ordinary user); both end signed in as one user with one binding.
func TestWeComParallelFirstSignIn(t *testing.T) {
	const start = "/auth/wecom/corp/start"
	tests := []struct {
		name       string
		autoSignup bool
		member     string
		setup      func(w *wecomWorld)
	}{
		{"auto-signup from two devices", true, "erin", nil},
		{"mobile match from two devices", false, "bob", func(w *wecomWorld) { w.app.CreateUser("bob", "", false, "13800000002") }},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					for round := 0; round < 3; round++ { // races are won differently each time
						w := newWorld(t, dialect, worldSpec{AutoSignup: tt.autoSignup})
						if tt.setup != nil {
							tt.setup(w)
						}
						const devices = 4
						clients := make([]*webtest.Client, devices)
						urls := make([]string, devices)
						for i := range clients {
							clients[i] = w.app.Client()
							clients[i].UserAgent = wecom.UserAgentIOS
							urls[i] = w.toCallback(t, clients[i], tt.member, start)
						}
						statuses := make([]int, devices)
						var wg sync.WaitGroup
						for i := range clients {
							wg.Add(1)
							go func() {
								defer wg.Done()
								statuses[i] = clients[i].Get(urls[i]).StatusCode
							}()
						}
						wg.Wait()
						for i, s := range statuses {
							if s != http.StatusSeeOther {
								t.Errorf("device %d: status %d, want 303", i, s)
							}
						}
						var users, bindings int64
						w.app.Store.DB().Model(&models.User{}).Where("mobile IS NOT NULL").Count(&users)
						w.app.Store.DB().Model(&models.Binding{}).Count(&bindings)
						if users != 1 || bindings != 1 {
							t.Errorf("%d users and %d bindings, want 1 and 1", users, bindings)
						}
						if got := countRows(t, w.app).sessions; got != devices {
							t.Errorf("%d sessions, want %d", got, devices)
						}
					}
				})
			}
		})
	}
}

// TestWeComStatusKeepsEdits: the connection test and the outbound-IP hint write only what they
// learnt; an admin's edit saved while WeCom was answering is kept.
func TestWeComStatusKeepsEdits(t *testing.T) {
	tests := []struct {
		name string
		spec worldSpec
		// run starts the slow WeCom call and returns when it is done.
		run func(t *testing.T, w *wecomWorld, admin *webtest.Client, begun chan<- struct{})
	}{
		{"connection test", worldSpec{}, func(t *testing.T, w *wecomWorld, admin *webtest.Client, begun chan<- struct{}) {
			close(begun)
			admin.Post("/admin/authenticators/"+itoa(w.a.ID)+"/test", nil)
		}},
		{"outbound IP hint of a sign-in refused with 60020", worldSpec{TrustedIPs: []string{"203.0.113.7"}}, func(t *testing.T, w *wecomWorld, _ *webtest.Client, begun chan<- struct{}) {
			c := w.app.Client()
			cb := w.toCallback(t, c, "alice", "/auth/wecom/corp/start")
			close(begun)
			if r := c.Get(cb); r.Outcome() != "wecom_error" {
				t.Errorf("sign-in: %d %q, want wecom_error", r.StatusCode, r.Outcome())
			}
		}},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					w, admin := adminWorld(t, dialect, tt.spec)
					w.sim.SetLatency(700 * time.Millisecond)
					begun, done := make(chan struct{}), make(chan struct{})
					go func() {
						defer close(done)
						tt.run(t, w, admin, begun)
					}()
					<-begun
					time.Sleep(300 * time.Millisecond) // the request has loaded the authenticator and waits for WeCom
					a, err := w.app.Store.AuthenticatorByID(ctx, w.a.ID)
					if err != nil {
						t.Fatal(err)
					}
					a.Title, a.Options.RedirectPath = "Edited meanwhile", "/edited"
					if err := w.app.Store.SaveAuthenticator(ctx, &a); err != nil {
						t.Fatal(err)
					}
					<-done
					got, _ := w.app.Store.AuthenticatorByID(ctx, w.a.ID)
					if got.Title != "Edited meanwhile" || got.Options.RedirectPath != "/edited" {
						t.Errorf("the edit was undone: title %q, redirect_path %q", got.Title, got.Options.RedirectPath)
					}
					if got.Options.LastTest == nil && got.Options.LastSeenIP == "" {
						t.Errorf("nothing recorded: %+v", got.Options)
					}
				})
			}
		})
	}
}

// TestSecuritySessionsEnd: the sessions a change makes untrustworthy end at the next request, and
// only those (DESIGN.md §6 "Sessions").
func TestSecuritySessionsEnd(t *testing.T) {
	const alicePassword = "alice-password-1"
	tests := []struct {
		name string
		// act is the admin's change; it returns the audit action and the detail key that counts.
		act func(t *testing.T, w *wecomWorld, admin *webtest.Client, alice models.User, b models.Binding) (string, string)
		// wecomEnds and passwordEnds: whether alice's WeCom and password sessions end.
		wecomEnds, passwordEnds bool
	}{
		{"unbinding a WeCom identity ends the sessions made through it", func(t *testing.T, w *wecomWorld, admin *webtest.Client, alice models.User, b models.Binding) (string, string) {
			admin.Post("/admin/users/"+itoa(alice.ID)+"/bindings/"+itoa(b.ID)+"/delete", url.Values{"confirm": {"yes"}})
			return models.ActionBindingDelete, "sessions_ended"
		}, true, false},
		{"disabling the authenticator ends its sessions", func(t *testing.T, w *wecomWorld, admin *webtest.Client, _ models.User, _ models.Binding) (string, string) {
			admin.Post("/admin/authenticators/"+itoa(w.a.ID)+"/toggle", nil)
			return models.ActionAuthUpdate, "sessions_ended"
		}, true, false},
		{"disabling the authenticator in its form ends its sessions", func(t *testing.T, w *wecomWorld, admin *webtest.Client, _ models.User, _ models.Binding) (string, string) {
			if r := admin.Post("/admin/authenticators/"+itoa(w.a.ID), editForm(w, map[string]string{"enabled": ""})); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("save: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
			}
			return models.ActionAuthUpdate, "sessions_ended"
		}, true, false},
		{"deleting the authenticator ends its sessions", func(t *testing.T, w *wecomWorld, admin *webtest.Client, _ models.User, _ models.Binding) (string, string) {
			admin.Post("/admin/authenticators/"+itoa(w.a.ID)+"/delete", url.Values{"confirm": {"yes"}})
			return models.ActionAuthDelete, "sessions_ended"
		}, true, false},
		{"an admin setting a new password ends all the user's sessions", func(t *testing.T, w *wecomWorld, admin *webtest.Client, alice models.User, _ models.Binding) (string, string) {
			r := admin.Post("/admin/users/"+itoa(alice.ID), url.Values{"username": {"alice"}, "nickname": {"Alice"}, "password": {"brand-new-password-2"}})
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("set password: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
			}
			return models.ActionSessionRevoke, "count"
		}, true, true},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					w, admin := adminWorld(t, dialect, worldSpec{})
					alice := w.app.CreateUser("alice", alicePassword, false, "")
					b := w.bind(t, w.a, alice, "alice")
					viaWeCom := w.app.Client()
					if r := w.signIn(t, viaWeCom, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
						t.Fatalf("WeCom sign-in: %d %q", r.StatusCode, r.Outcome())
					}
					viaPassword := w.app.Client()
					viaPassword.SignIn("alice", alicePassword)
					action, key := tt.act(t, w, admin, alice, b)
					for _, s := range []struct {
						what string
						c    *webtest.Client
						ends bool
					}{{"WeCom session", viaWeCom, tt.wecomEnds}, {"password session", viaPassword, tt.passwordEnds}, {"admin's own session", admin, false}} {
						page := "/account"
						if s.c == admin {
							page = "/admin"
						}
						r := s.c.Get(page)
						if ended := r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Location(), "/signin"); ended != s.ends {
							t.Errorf("%s ended = %v, want %v (%d %q)", s.what, ended, s.ends, r.StatusCode, r.Location())
						}
					}
					want := float64(1)
					if tt.passwordEnds {
						want = 2
					}
					if _, detail := lastAudit(t, w.app, action); detail[key] != want {
						t.Errorf("audit %s: %v, want %s = %v", action, detail, key, want)
					}
				})
			}
		})
	}
}
