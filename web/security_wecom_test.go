package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models/modelstest"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestSecurityWeCom names each attack on WeCom sign-in (DESIGN.md §9) and checks it fails: no session,
// the refusal the rules give, and nothing of the attacker's choosing on the page. (Open-redirect
// variants are in TestSecurityOpenRedirect.)
func TestSecurityWeCom(t *testing.T) {
	const start = "/auth/wecom/corp/start"
	tests := []struct {
		attack string
		// run performs the attack with a fresh world in which alice (mobile 13800000001) is bound
		// to the WeCom member alice at corp, and returns the final response.
		run  func(t *testing.T, w *wecomWorld) *webtest.Response
		want string // outcome, or "signed-in:<user>" / "landing:<path>"
	}{
		{"OAuth state missing: the callback with a code and no state", func(t *testing.T, w *wecomWorld) *webtest.Response {
			c := w.app.Client()
			u, _ := url.Parse(w.toCallback(t, c, "alice", start))
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return c.Get(u.String())
		}, "state_invalid"},
		{"callback without start: made-up code and state, no state cookie", func(t *testing.T, w *wecomWorld) *webtest.Response {
			return w.app.Client().Get("/auth/wecom/corp/callback?code=made-up-code&state=" + strings.Repeat("ab", 32))
		}, "state_invalid"},
		{"other browser: a genuine callback URL opened where the sign-in did not start", func(t *testing.T, w *wecomWorld) *webtest.Response {
			return w.app.Client().Get(w.toCallback(t, w.app.Client(), "alice", start))
		}, "state_invalid"},
		{"other authenticator: state and cookie of corp2 used on corp's callback", func(t *testing.T, w *wecomWorld) *webtest.Response {
			w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp2", CorpID: corpID, AgentID: agentID, Secret: secret})
			c := w.app.Client()
			return c.Get(strings.Replace(w.toCallback(t, c, "alice", "/auth/wecom/corp2/start"), "/corp2/callback", "/corp/callback", 1))
		}, "state_invalid"},
		{"expired state: the callback 11 minutes after the start", func(t *testing.T, w *wecomWorld) *webtest.Response {
			c := w.app.Client()
			u := w.toCallback(t, c, "alice", start)
			w.clock.Advance(11 * time.Minute)
			return c.Get(u)
		}, "state_invalid"},
		{"forged state: attacker's own state value with the victim's cookie", func(t *testing.T, w *wecomWorld) *webtest.Response {
			c := w.app.Client()
			u, _ := url.Parse(w.toCallback(t, c, "alice", start))
			q := u.Query()
			q.Set("state", strings.ToUpper(q.Get("state"))) // same length, different value
			u.RawQuery = q.Encode()
			return c.Get(u.String())
		}, "state_invalid"},
		{"forged state cookie: a cookie not sealed by Gatehouse", func(t *testing.T, w *wecomWorld) *webtest.Response {
			c := w.app.Client()
			target := w.toCallback(t, w.app.Client(), "alice", start)
			u, _ := url.Parse(target)
			plantStateCookie(t, w.app, c, `{"s":"`+u.Query().Get("state")+`","n":"corp","f":"qr","e":9999999999}`)
			return c.Get(target)
		}, "state_invalid"},
		{"login CSRF: attacker's callback URL (code and state) opened in the victim's browser", func(t *testing.T, w *wecomWorld) *webtest.Response {
			attacker := w.toCallback(t, w.app.Client(), "bob", start)
			victim := w.app.Client()
			w.toCallback(t, victim, "alice", start) // the victim has a state cookie of her own
			return victim.Get(attacker)
		}, "state_invalid"},
		{"replayed state: the callback URL used twice", func(t *testing.T, w *wecomWorld) *webtest.Response {
			c := w.app.Client()
			u := w.toCallback(t, c, "alice", start)
			if r := c.Get(u); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("first use: %d", r.StatusCode)
			}
			return c.Get(u)
		}, "state_invalid"},
		{"code replay: a used code with a fresh valid state", func(t *testing.T, w *wecomWorld) *webtest.Response {
			first := w.app.Client()
			u1, _ := url.Parse(w.toCallback(t, first, "alice", start))
			if r := first.Get(u1.String()); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("first sign-in: %d", r.StatusCode)
			}
			calls := w.sim.Calls("getuserinfo")
			c := w.app.Client()
			u2, _ := url.Parse(w.toCallback(t, c, "bob", start))
			q := u2.Query()
			q.Set("code", u1.Query().Get("code"))
			u2.RawQuery = q.Encode()
			r := c.Get(u2.String())
			if n := w.sim.Calls("getuserinfo") - calls; n != 1 {
				t.Errorf("replayed code exchanged %d times, want 1 (never retried)", n)
			}
			if !strings.Contains(r.Body, "40029") || !strings.Contains(r.Body, "Start again") {
				t.Errorf("replay page does not say start again (40029)")
			}
			return r
		}, "wecom_error"},
		{"session fixation: a planted gatehouse_session is not accepted after WeCom sign-in", func(t *testing.T, w *wecomWorld) *webtest.Response {
			// The attacker signs in (a real session) and plants that cookie in the victim's browser.
			attacker := w.app.Client()
			attacker.SignIn("mallory", "correct horse battery")
			planted := attacker.Cookie(auth.SessionCookie)
			victim := w.app.Client()
			victim.SetCookie(auth.SessionCookie, planted)
			target := w.toCallback(t, victim, "alice", start)
			r := victim.Get(target)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("victim's sign-in: %d %q", r.StatusCode, r.Outcome())
			}
			if got := victim.Cookie(auth.SessionCookie); got == "" || got == planted {
				t.Errorf("the session id did not change at sign-in")
			}
			// The planted id, used again, is not alice's session.
			stale := w.app.Client()
			stale.SetCookie(auth.SessionCookie, planted)
			if page := stale.Get("/account"); strings.Contains(page.Body, "alice") && page.Find("[data-testid=account]").Length() == 1 && !strings.Contains(page.Body, "mallory") {
				t.Errorf("the planted session id signs in as alice")
			}
			return victim.Get("/account")
		}, "signed-in:alice"},
		{"session fixation: an invented gatehouse_session", func(t *testing.T, w *wecomWorld) *webtest.Response {
			victim := w.app.Client()
			victim.SetCookie(auth.SessionCookie, strings.Repeat("a", 64))
			victim.Get(w.toCallback(t, victim, "alice", start))
			if victim.Cookie(auth.SessionCookie) == strings.Repeat("a", 64) {
				t.Errorf("the invented session id survived the sign-in")
			}
			return victim.Get("/account")
		}, "signed-in:alice"},
		{"binding takeover: another corp's member with alice's mobile, QR in her own browser", func(t *testing.T, w *wecomWorld) *webtest.Response {
			w.addOtherCorp(t, false, wecomtest.Member{UserID: "mallory", Name: "Mallory", Mobile: "13800000001"})
			c := w.app.Client()
			return c.Get(w.toCallback(t, c, "mallory", "/auth/wecom/other/start"))
		}, "first_signin_in_client"},
		{"binding takeover: another corp's userid alice (same userid, other person)", func(t *testing.T, w *wecomWorld) *webtest.Response {
			w.addOtherCorp(t, false, wecomtest.Member{UserID: "alice", Name: "Not Alice", Mobile: "13900000009"})
			c := w.app.Client()
			c.UserAgent = wecom.UserAgentIOS
			return c.Get(w.toCallback(t, c, "alice", "/auth/wecom/other/start"))
		}, "no_account"},
		{"binding takeover: another corp's member with alice's mobile, in the client", func(t *testing.T, w *wecomWorld) *webtest.Response {
			// alice is bound at the first corp; a second corp vouching for her mobile number must not
			// hand her account to its member (DESIGN.md §9): an administrator binds such users by hand.
			w.addOtherCorp(t, false, wecomtest.Member{UserID: "mallory", Name: "Mallory", Mobile: "13800000001"})
			c := w.app.Client()
			c.UserAgent = wecom.UserAgentIOS
			r := c.Get(w.toCallback(t, c, "mallory", "/auth/wecom/other/start"))
			other, _ := w.app.Store.AuthenticatorByName(t.Context(), "other")
			if _, err := w.app.Store.BindingBySubject(t.Context(), other.ID, "mallory"); err == nil {
				t.Errorf("mallory was bound to alice at the other corp")
			}
			if c.Cookie(auth.SessionCookie) != "" {
				t.Errorf("a session was issued")
			}
			return r
		}, "binding_conflict"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.attack, func(t *testing.T) {
					t.Parallel()
					clk := &clock{}
					w := newWorld(t, dialect, worldSpec{AppOptions: []webtest.Option{webtest.WithClock(clk.Now)}})
					w.clock = clk
					w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
					w.app.CreateUser("mallory", "correct horse battery", false, "")
					r := tt.run(t, w)
					expected, observed := tt.want, ""
					switch {
					case strings.HasPrefix(tt.want, "signed-in:"):
						user := strings.TrimPrefix(tt.want, "signed-in:")
						expected = "signed in as " + user + " with a new session id"
						observed = expected
						if r.StatusCode != http.StatusOK || r.Find("[data-testid=account]").Length() != 1 || !strings.Contains(r.Body, user) {
							observed = fmt.Sprintf("not signed in as %s: %d", user, r.StatusCode)
						}
					default:
						expected = "refused " + tt.want + ", no session"
						observed = fmt.Sprintf("refused %s, no session", r.Outcome())
						if r.StatusCode < 400 {
							observed = fmt.Sprintf("status %d %s", r.StatusCode, r.Outcome())
						}
						if strings.Contains(r.Header.Get("Set-Cookie"), auth.SessionCookie+"=") && !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
							observed += ", but a session cookie"
						}
					}
					securitytest.Report(t, tt.attack, expected, observed)
					if strings.Contains(r.Body, "evil.com") {
						t.Errorf("the attacker's URL is on the page")
					}
					assertNoSecrets(t, w.app, r.Body)
				})
			}
		})
	}
}

// plantStateCookie puts a hand-made (unsealed) state cookie in the client for the /auth/wecom/ path.
func plantStateCookie(t *testing.T, app *webtest.App, c *webtest.Client, value string) {
	t.Helper()
	c.SetCookie("gatehouse_wecom_state", url.QueryEscape(value))
}

// TestSecurityWeComAdminCSRF: every authenticator admin POST from another site is refused and changes
// nothing, while the same POST from the app itself works.
func TestSecurityWeComAdminCSRF(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w, c := adminWorld(t, dialect, worldSpec{})
			id := fmt.Sprintf("/admin/authenticators/%d", w.a.ID)
			posts := []struct {
				path string
				form url.Values
			}{
				{"/admin/authenticators", wecomFormValues(w, nil)},
				{id, wecomFormValues(w, map[string]string{"name": "corp", "title": "Hijacked", "secret": "attacker-secret"})},
				{id + "/test", nil},
				{id + "/toggle", nil},
				{id + "/move", url.Values{"direction": {"up"}}},
				{id + "/delete", url.Values{"confirm": {"yes"}}},
			}
			for _, p := range posts {
				for _, site := range []struct {
					name  string
					set   func(h http.Header)
					allow bool
				}{
					{"cross-site Sec-Fetch-Site", func(h http.Header) { h.Set("Sec-Fetch-Site", "cross-site") }, false},
					{"foreign Origin", func(h http.Header) { h.Set("Origin", "https://evil.com") }, false},
					{"same-site other origin", func(h http.Header) { h.Set("Sec-Fetch-Site", "same-site") }, false},
				} {
					t.Run("CSRF "+p.path+" "+site.name, func(t *testing.T) {
						before := countRows(t, w.app)
						a0, _ := w.app.Store.AuthenticatorByID(t.Context(), w.a.ID)
						calls := w.sim.Calls("gettoken")
						req, _ := http.NewRequest(http.MethodPost, w.app.URL()+p.path, strings.NewReader(p.form.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						site.set(req.Header)
						r := c.Do(req)
						var problems []string
						if r.StatusCode != http.StatusForbidden {
							problems = append(problems, fmt.Sprintf("status %d", r.StatusCode))
						}
						a1, err := w.app.Store.AuthenticatorByID(t.Context(), w.a.ID)
						if err != nil || a1.Title != a0.Title || a1.Enabled != a0.Enabled || a1.Sort != a0.Sort || a1.SecretSealed != a0.SecretSealed {
							problems = append(problems, "authenticator changed")
						}
						if after := countRows(t, w.app); after.audits != before.audits || after.bindings != before.bindings {
							problems = append(problems, "rows written")
						}
						if w.sim.Calls("gettoken") != calls {
							problems = append(problems, "WeCom called")
						}
						if _, err := w.app.Store.AuthenticatorByName(t.Context(), "acme"); err == nil {
							problems = append(problems, "authenticator created")
						}
						observed := "403, nothing changed, WeCom not called"
						if len(problems) > 0 {
							observed = strings.Join(problems, ", ")
						}
						securitytest.Report(t, "CSRF on the WeCom authenticator admin: POST "+strings.Replace(p.path, id, "/admin/authenticators/:id", 1)+", "+site.name,
							"403, nothing changed, WeCom not called", observed)
					})
				}
			}
			// The same request from the app itself goes through (the check is not refusing everything).
			if r := c.Post(id+"/move", url.Values{"direction": {"down"}}); r.StatusCode != http.StatusSeeOther {
				t.Errorf("same-origin POST refused: %d", r.StatusCode)
			}
		})
	}
}
