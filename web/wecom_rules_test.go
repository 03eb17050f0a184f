package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// clock is a settable time source for the app (state and session expiry).
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// delta is how many rows a sign-in added.
type delta struct{ users, bindings, sessions int64 }

// ruleWant is what a sign-in ends with (DESIGN.md §6).
type ruleWant struct {
	status  int
	outcome string // "" for a success
	to      string // success: the 303's Location
	added   delta
	user    string // success: the username signed in
}

// TestWeComCallbackRules runs one sign-in per rule of DESIGN.md §6 and per outcome, and checks the
// status, the page's data-outcome, the rows written (nothing half-written after a refusal, never a
// session), the audit event and, for a success, where the browser lands.
func TestWeComCallbackRules(t *testing.T) {
	const start = "/auth/wecom/corp/start"
	tests := []struct {
		name   string
		spec   worldSpec
		ua     string
		member string
		refuse bool
		path   string // start path (default start)
		// setup prepares the database and the simulator; prep, when set, replaces the way to the
		// callback and returns the URL the browser requests last.
		setup func(t *testing.T, w *wecomWorld)
		prep  func(t *testing.T, w *wecomWorld, c *webtest.Client) string
		want  ruleWant
		check func(t *testing.T, w *wecomWorld) // more assertions on the database
	}{
		// Rule 1: authenticator and state.
		{name: "state_invalid: no state cookie (callback opened in another browser)", member: "alice",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				return w.toCallback(t, w.app.Client(), "alice", start)
			},
			want: ruleWant{status: 400, outcome: "state_invalid"}},
		{name: "state_invalid: forged state", member: "alice",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				u, _ := url.Parse(w.toCallback(t, c, "alice", start))
				q := u.Query()
				q.Set("state", strings.Repeat("0", 64))
				u.RawQuery = q.Encode()
				return u.String()
			},
			want: ruleWant{status: 400, outcome: "state_invalid"}},
		{name: "state_invalid: state expired after 10 minutes", member: "alice",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				u := w.toCallback(t, c, "alice", start)
				w.clock.Advance(11 * time.Minute)
				return u
			},
			want: ruleWant{status: 400, outcome: "state_invalid"}},
		{name: "state_invalid: state of another authenticator", member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp2", CorpID: corpID, AgentID: agentID, Secret: secret})
			},
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				return strings.Replace(w.toCallback(t, c, "alice", "/auth/wecom/corp2/start"), "/corp2/callback", "/corp/callback", 1)
			},
			want: ruleWant{status: 400, outcome: "state_invalid"}},
		{name: "state_invalid: callback URL reused after a sign-in", member: "alice",
			setup: func(t *testing.T, w *wecomWorld) { w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice") },
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				u := w.toCallback(t, c, "alice", start)
				if r := c.Get(u); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("first use: %d %q", r.StatusCode, r.Outcome())
				}
				return u
			},
			want: ruleWant{status: 400, outcome: "state_invalid"}},
		{name: "authenticator_unavailable: unknown name",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				return "/auth/wecom/nope/callback?code=abc&state=" + strings.Repeat("a", 64)
			},
			want: ruleWant{status: 404, outcome: "authenticator_unavailable"}},
		{name: "authenticator_unavailable: disabled while the member was at WeCom", member: "alice",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				u := w.toCallback(t, c, "alice", start)
				a := w.a
				a.Enabled = false
				if err := w.app.Store.SaveAuthenticator(context.Background(), &a); err != nil {
					t.Fatal(err)
				}
				return u
			},
			want: ruleWant{status: 404, outcome: "authenticator_unavailable"}},
		{name: "authenticator_unavailable: the password authenticator",
			prep: func(t *testing.T, w *wecomWorld, c *webtest.Client) string {
				return "/auth/wecom/password/callback?code=abc&state=" + strings.Repeat("a", 64)
			},
			want: ruleWant{status: 404, outcome: "authenticator_unavailable"}},
		// Rule 2.
		{name: "cancelled: member refuses consent", ua: wecom.UserAgentIOS, member: "bob", refuse: true,
			want: ruleWant{status: 403, outcome: "cancelled"}},
		// Rule 3.
		{name: "not_member: personal WeChat user (openid)", member: wecomtest.ExternalUser,
			want: ruleWant{status: 403, outcome: "not_member"}},
		// Rule 4.
		{name: "binding resolves the user (QR)", member: "alice",
			setup: func(t *testing.T, w *wecomWorld) { w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice") },
			want:  ruleWant{status: 303, to: "/", added: delta{sessions: 1}, user: "alice"}},
		// Rule 5.
		{name: "in-client mobile match binds the user", ua: wecom.UserAgentDesktop, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("alice", "", false, "13800000001") },
			want:  ruleWant{status: 303, to: "/", added: delta{bindings: 1, sessions: 1}, user: "alice"}},
		{name: "normalised mobile: +86 138… in Gatehouse, 13800000001 from WeCom", ua: wecom.UserAgentIOS, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("ann", "", false, "+86 138 0000 0001") },
			want:  ruleWant{status: 303, to: "/m", added: delta{bindings: 1, sessions: 1}, user: "ann"}},
		{name: "normalised mobile: 13800000005 in Gatehouse, +86 from WeCom", ua: wecom.UserAgentAndroid, member: "erin",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("erin", "", false, "13800000005") },
			want:  ruleWant{status: 303, to: "/m", added: delta{bindings: 1, sessions: 1}, user: "erin"}},
		{name: "auto-signup creates user and binding", spec: worldSpec{AutoSignup: true}, ua: wecom.UserAgentDesktop, member: "erin",
			want: ruleWant{status: 303, to: "/", added: delta{users: 1, bindings: 1, sessions: 1}, user: "erin"},
			check: func(t *testing.T, w *wecomWorld) {
				u, err := w.app.Store.UserByUsername(context.Background(), "erin")
				if err != nil || u.Nickname != "Erin Zhao" || u.Email != "erin@acme.test" || u.MobileString() != "+8613800000005" || u.HasPassword() || u.IsAdmin {
					t.Errorf("auto-signed-up user %+v %v: want nickname from user/get, email from getuserdetail, mobile, no password", u, err)
				}
				b, err := w.app.Store.BindingBySubject(context.Background(), w.a.ID, "erin")
				if err != nil || b.UserID != u.ID || b.CorpID != corpID {
					t.Errorf("binding %+v %v", b, err)
				}
				if ev, _ := lastAudit(t, w.app, models.ActionUserCreate); ev.Target != "erin" {
					t.Errorf("user.create audit for %q", ev.Target)
				}
			}},
		{name: "no_account: no mobile match, auto-signup off", ua: wecom.UserAgentIOS, member: "bob",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("alice", "", false, "13800000001") },
			want:  ruleWant{status: 403, outcome: "no_account"}},
		// Rule 6.
		{name: "first_signin_in_client: QR code without a binding", spec: worldSpec{AutoSignup: true}, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("alice", "", false, "13800000001") },
			want:  ruleWant{status: 403, outcome: "first_signin_in_client"}},
		{name: "first_signin_in_client: in the client without mobile consent", spec: worldSpec{AutoSignup: true}, ua: wecom.UserAgentIOS, member: "dave",
			setup: func(t *testing.T, w *wecomWorld) { w.app.CreateUser("dave", "", false, "13800000004") },
			want:  ruleWant{status: 403, outcome: "first_signin_in_client"}},
		// Rule 7.
		{name: "user_disabled: bound user is disabled", member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				u := w.app.CreateUser("alice", "", false, "")
				u.Disabled = true
				if err := w.app.Store.SaveUser(context.Background(), &u); err != nil {
					t.Fatal(err)
				}
				w.bind(t, w.a, u, "alice")
			},
			want: ruleWant{status: 403, outcome: "user_disabled"}},
		{name: "user_disabled: mobile match of a disabled user", ua: wecom.UserAgentIOS, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				u := w.app.CreateUser("alice", "", false, "13800000001")
				u.Disabled = true
				if err := w.app.Store.SaveUser(context.Background(), &u); err != nil {
					t.Fatal(err)
				}
			},
			want: ruleWant{status: 403, outcome: "user_disabled"}}, // refused before anything is written
		{name: "binding_conflict: the user with this mobile is bound to another member", ua: wecom.UserAgentIOS, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice-old")
			},
			want: ruleWant{status: 409, outcome: "binding_conflict"}},
		{name: "same userid at another corp is another person", member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
				w.addOtherCorp(t, false, wecomtest.Member{UserID: "alice", Name: "Other Alice", Mobile: "13900000009"})
			},
			path: "/auth/wecom/other/start",
			want: ruleWant{status: 403, outcome: "first_signin_in_client"}},
		{name: "same userid at another corp, in the client: no account for its mobile", ua: wecom.UserAgentIOS, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
				w.addOtherCorp(t, false, wecomtest.Member{UserID: "alice", Name: "Other Alice", Mobile: "13900000009"})
			},
			path: "/auth/wecom/other/start",
			want: ruleWant{status: 403, outcome: "no_account"}},
		// Where a success lands.
		{name: "landing: the asked-for redirect", ua: wecom.UserAgentIOS, member: "alice", path: start + "?redirect=" + url.QueryEscape("/account?tab=sessions"),
			setup: func(t *testing.T, w *wecomWorld) { w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice") },
			want:  ruleWant{status: 303, to: "/account?tab=sessions", added: delta{sessions: 1}, user: "alice"}},
		{name: "landing: unsafe //evil.com falls back to redirect_path", member: "alice", path: start + "?redirect=" + url.QueryEscape("//evil.com"),
			setup: func(t *testing.T, w *wecomWorld) { w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice") },
			want:  ruleWant{status: 303, to: "/", added: delta{sessions: 1}, user: "alice"}},
		{name: "landing: unsafe https://evil.com from a phone falls back to mobile_redirect_path", ua: wecom.UserAgentAndroid, member: "alice",
			path:  start + "?redirect=" + url.QueryEscape("https://evil.com"),
			setup: func(t *testing.T, w *wecomWorld) { w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice") },
			want:  ruleWant{status: 303, to: "/m", added: delta{sessions: 1}, user: "alice"}},
		{name: "landing: desktop WeCom client uses redirect_path", ua: wecom.UserAgentDesktop, member: "alice",
			setup: func(t *testing.T, w *wecomWorld) {
				a := w.a
				a.Options.RedirectPath = "/account"
				if err := w.app.Store.SaveAuthenticator(context.Background(), &a); err != nil {
					t.Fatal(err)
				}
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice")
			},
			want: ruleWant{status: 303, to: "/account", added: delta{sessions: 1}, user: "alice"}},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					clk := &clock{}
					spec := tt.spec
					spec.AppOptions = append(spec.AppOptions, webtest.WithClock(clk.Now))
					w := newWorld(t, dialect, spec)
					w.clock = clk
					if tt.setup != nil {
						tt.setup(t, w)
					}
					c := w.app.Client()
					c.UserAgent = tt.ua
					if tt.refuse {
						c.Header(wecomtest.ActionHeader, "refuse")
					}
					var target string
					if tt.prep != nil {
						target = tt.prep(t, w, c)
					} else {
						path := tt.path
						if path == "" {
							path = start
						}
						target = w.toCallback(t, c, tt.member, path)
					}
					before := w.counts(t)
					r := c.Get(target)
					after := w.counts(t)
					w.checkRule(t, c, r, before, after, tt.want)
					if tt.check != nil {
						tt.check(t, w)
					}
				})
			}
		})
	}
}

// checkRule asserts a callback's response and what it wrote.
func (w *wecomWorld) checkRule(t *testing.T, c *webtest.Client, r *webtest.Response, before, after counts, want ruleWant) {
	t.Helper()
	if r.StatusCode != want.status || r.Outcome() != want.outcome {
		t.Fatalf("got %d %q, want %d %q; body %.400s", r.StatusCode, r.Outcome(), want.status, want.outcome, r.Body)
	}
	got := delta{after.users - before.users, after.bindings - before.bindings, after.sessions - before.sessions}
	if got != want.added {
		t.Errorf("rows added %+v, want %+v", got, want.added)
	}
	if after.audits <= before.audits {
		t.Errorf("no audit event")
	}
	if want.outcome != "" {
		if r.Header.Get("Set-Cookie") != "" && strings.Contains(r.Header.Get("Set-Cookie"), "gatehouse_session=") &&
			!strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("refusal sets a session cookie: %s", r.Header.Get("Set-Cookie"))
		}
		ev, detail := lastAudit(t, w.app, "")
		if ev.Action != models.ActionSigninRefused || detail["outcome"] != want.outcome {
			t.Errorf("audit %s %v, want signin.refused outcome %s", ev.Action, detail, want.outcome)
		}
		return
	}
	if r.Location() != want.to {
		t.Errorf("lands on %q, want %q", r.Location(), want.to)
	}
	ev, detail := lastAudit(t, w.app, "")
	if ev.Action != models.ActionSigninOK || ev.Target != want.user || detail["method"] != "wecom" {
		t.Errorf("audit %s %s %v, want signin.ok for %s", ev.Action, ev.Target, detail, want.user)
	}
	ctx := context.Background()
	u, err := w.app.Store.UserByUsername(ctx, want.user)
	if err != nil {
		t.Fatal(err)
	}
	if u.LastSigninAt == nil {
		t.Errorf("last_signin_at not set")
	}
	var sess models.Session
	if err := w.app.Store.DB().Where("user_id = ? AND revoked_at IS NULL", u.ID).Order("created_at DESC").First(&sess).Error; err != nil {
		t.Errorf("no session for %s: %v", want.user, err)
	} else if sess.AuthenticatorID == nil || *sess.AuthenticatorID == 0 {
		t.Errorf("session without authenticator")
	}
	var b models.Binding
	if err := w.app.Store.DB().Where("user_id = ?", u.ID).First(&b).Error; err != nil || b.LastUsedAt == nil {
		t.Errorf("binding of %s not touched: %+v %v", want.user, b, err)
	}
	// The new session works: the landing page (or its own redirect) is served to this user.
	page := c.Get("/account")
	if page.StatusCode != http.StatusOK || page.Find("[data-testid=account]").Length() != 1 {
		t.Errorf("/account after sign-in: %d", page.StatusCode)
	}
}

// addOtherCorp adds a second corp "Other" (its own corp id, app and members) and an authenticator
// "other" for it.
func (w *wecomWorld) addOtherCorp(t *testing.T, autoSignup bool, members ...wecomtest.Member) models.Authenticator {
	t.Helper()
	const otherCorp, otherSecret = "wwfedcba0987654321", "other-secret-abcdef0123456789abcdef012345"
	host := strings.TrimPrefix(w.app.URL(), "http://")
	if err := w.sim.AddCorp(wecomtest.Corp{ID: otherCorp, Name: "Other", TrustedDomains: []string{host},
		Apps: []wecomtest.App{{AgentID: agentID, Secret: otherSecret, Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := w.sim.AddMember(otherCorp, m); err != nil {
			t.Fatal(err)
		}
	}
	return w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "other", Title: "Other", CorpID: otherCorp, AgentID: agentID,
		Secret: otherSecret, AutoSignup: autoSignup, MobilePath: "/m"})
}
