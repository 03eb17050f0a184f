package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

const (
	corpID  = "ww1234567890abcdef"
	agentID = 1000002
	secret  = "app-secret-0123456789abcdef0123456789abcdef"
)

// wecomWorld is a Gatehouse with one WeCom authenticator "corp" and a simulated corp with members.
type wecomWorld struct {
	app *webtest.App
	sim *wecomtest.Sim
	a   models.Authenticator
	// clock, when the test set one, is the app's clock.
	clock *clock
}

// worldSpec varies the world: the authenticator's switches, the corp's trust settings, and options
// for the app (a clock, say).
type worldSpec struct {
	AutoSignup, AutoLogin bool
	// TrustedDomains replaces the corp's trusted domains (default: the app's host).
	TrustedDomains []string
	// TrustedIPs is the corp's trusted caller IPs (default: any).
	TrustedIPs []string
	AppOptions []webtest.Option
}

func newWeComWorld(t *testing.T, dialect string, autoSignup bool) *wecomWorld {
	t.Helper()
	return newWorld(t, dialect, worldSpec{AutoSignup: autoSignup})
}

// newWorld builds a Gatehouse against a fresh simulator with corp "Acme" (members alice, bob,
// carol outside the app's visible range, dave who hides his mobile, erin with an email) and the
// enabled WeCom authenticator "corp" (mobile landing path /m).
func newWorld(t *testing.T, dialect string, spec worldSpec) *wecomWorld {
	t.Helper()
	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.New(t, dialect, append([]webtest.Option{webtest.WithWeCom(simSrv.URL)}, spec.AppOptions...)...)
	host := strings.TrimPrefix(app.URL(), "http://")
	domains := spec.TrustedDomains
	if domains == nil {
		domains = []string{host}
	}
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: domains, TrustedIPs: spec.TrustedIPs, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []wecomtest.Member{
		{UserID: "alice", Name: "Alice Wang", Mobile: "13800000001", Email: "alice@acme.test"},
		{UserID: "bob", Name: "Bob Li", Mobile: "13800000002"},
		{UserID: "carol", Name: "Carol", Mobile: "13800000003", VisibleTo: []int64{999}},
		{UserID: "dave", Name: "Dave", Mobile: "13800000004", HideMobile: true},
		{UserID: "erin", Name: "Erin Zhao", Mobile: "+86 13800000005", Email: "erin@acme.test"},
	} {
		if err := sim.AddMember(corpID, m); err != nil {
			t.Fatal(err)
		}
	}
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret,
		AutoSignup: spec.AutoSignup, AutoLogin: spec.AutoLogin, MobilePath: "/m"})
	return &wecomWorld{app: app, sim: sim, a: a}
}

// bind ties user to the WeCom userid subject at authenticator a, as a first sign-in would have.
func (w *wecomWorld) bind(t *testing.T, a models.Authenticator, u models.User, subject string) models.Binding {
	t.Helper()
	b := models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: subject, CorpID: a.Options.CorpID, CreatedAt: time.Now().UTC()}
	if err := w.app.Store.CreateBinding(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// toCallback starts a sign-in at path as member and follows Gatehouse and the simulator up to, but
// not including, the request to Gatehouse's callback, whose absolute URL it returns.
func (w *wecomWorld) toCallback(t *testing.T, c *webtest.Client, member, path string) string {
	t.Helper()
	c.Header(wecomtest.MemberHeader, member)
	r := c.Get(path)
	for range 10 {
		if r.StatusCode < 300 || r.StatusCode >= 400 {
			t.Fatalf("%s: no redirect to the callback: %d %q %.300s", path, r.StatusCode, r.Outcome(), r.Body)
		}
		next, err := r.Request.URL.Parse(r.Location())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(next.Path, "/callback") {
			return next.String()
		}
		r = c.Get(next.String())
	}
	t.Fatalf("%s: too many redirects", path)
	return ""
}

// counts is what a sign-in may have written.
type counts struct{ users, bindings, sessions, audits int64 }

func (w *wecomWorld) counts(t *testing.T) counts {
	t.Helper()
	return countRows(t, w.app)
}

func countRows(t *testing.T, app *webtest.App) counts {
	t.Helper()
	db := app.Store.DB()
	var c counts
	for _, q := range []struct {
		model any
		where string
		n     *int64
	}{
		{&models.User{}, "", &c.users},
		{&models.Binding{}, "", &c.bindings},
		{&models.Session{}, "revoked_at IS NULL", &c.sessions},
		{&models.AuditEvent{}, "", &c.audits},
	} {
		tx := db.Model(q.model)
		if q.where != "" {
			tx = tx.Where(q.where)
		}
		if err := tx.Count(q.n).Error; err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// lastAudit returns the newest audit event with its detail decoded.
func lastAudit(t *testing.T, app *webtest.App, action string) (models.AuditEvent, map[string]any) {
	t.Helper()
	var ev models.AuditEvent
	q := app.Store.DB().Order("id DESC")
	if action != "" {
		q = q.Where("action = ?", action)
	}
	if err := q.First(&ev).Error; err != nil {
		t.Fatalf("no audit event %q: %v", action, err)
	}
	detail := map[string]any{}
	if err := json.Unmarshal([]byte(ev.Detail), &detail); err != nil {
		t.Fatalf("audit detail %q: %v", ev.Detail, err)
	}
	return ev, detail
}

// cachedTokens returns every access_token in the shared cache, unsealed.
func cachedTokens(t *testing.T, app *webtest.App) []string {
	t.Helper()
	sealer, err := models.NewSealer(app.Config.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	var rows []models.WeComToken
	if err := app.Store.DB().Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.TokenSealed == "" {
			continue
		}
		tok, err := sealer.Open(r.TokenSealed, models.WeComTokenFor(r.CacheKey))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok)
	}
	return out
}

// assertNoSecrets fails when the app secret or any cached access_token appears in the page or logs.
func assertNoSecrets(t *testing.T, app *webtest.App, page string, extra ...string) {
	t.Helper()
	for _, s := range append(append([]string{secret}, cachedTokens(t, app)...), extra...) {
		if s == "" {
			continue
		}
		if strings.Contains(page, s) {
			t.Errorf("page shows a secret or token (%.6s…)", s)
		}
		if strings.Contains(app.Logs(), s) {
			t.Errorf("logs hold a secret or token (%.6s…)", s)
		}
	}
}

// signIn runs a whole WeCom sign-in as member from a browser with user agent ua.
func (w *wecomWorld) signIn(t *testing.T, c *webtest.Client, member, path string) *webtest.Response {
	t.Helper()
	c.Header(wecomtest.MemberHeader, member)
	r, _ := c.Follow(path)
	return r
}

func TestWeComFlows(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWeComWorld(t, dialect, true)
			ctx := context.Background()
			w.app.CreateUser("alice", "", false, "+86 138 0000 0001")

			// QR from a desktop browser without a binding: first sign-in must be in the client.
			desktop := w.app.Client()
			r := w.signIn(t, desktop, "alice", "/auth/wecom/corp/start?redirect=/account")
			if r.StatusCode != http.StatusForbidden || r.Outcome() != "first_signin_in_client" {
				t.Fatalf("QR first sign-in: %d %q", r.StatusCode, r.Outcome())
			}
			// Inside the client: mobile match binds alice and signs her in.
			phone := w.app.Client()
			phone.UserAgent = wecom.UserAgentIOS
			r = w.signIn(t, phone, "alice", "/auth/wecom/corp/start?redirect=/account")
			if r.StatusCode != http.StatusOK || r.Find("[data-testid=account]").Length() != 1 {
				t.Fatalf("in-client mobile match: %d %s", r.StatusCode, r.Body[:min(300, len(r.Body))])
			}
			if _, err := w.app.Store.BindingBySubject(ctx, w.a.ID, "alice"); err != nil {
				t.Fatalf("binding: %v", err)
			}
			// Now QR works by binding.
			desktop2 := w.app.Client()
			r = w.signIn(t, desktop2, "alice", "/auth/wecom/corp/start")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("QR after binding: %d %q", r.StatusCode, r.Outcome())
			}
			// New member, auto-signup creates user and binding.
			bob := w.app.Client()
			bob.UserAgent = wecom.UserAgentDesktop
			r = w.signIn(t, bob, "bob", "/auth/wecom/corp/start")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("auto signup: %d %q", r.StatusCode, r.Outcome())
			}
			u, err := w.app.Store.UserByUsername(ctx, "bob")
			if err != nil || u.Nickname != "Bob Li" || u.MobileString() != "+8613800000002" {
				t.Fatalf("auto-signed-up user: %+v %v", u, err)
			}
			// Not visible → wecom_error 60011.
			carol := w.app.Client()
			carol.UserAgent = wecom.UserAgentAndroid
			r = w.signIn(t, carol, "carol", "/auth/wecom/corp/start")
			if r.Outcome() != "wecom_error" || !strings.Contains(r.Body, "60011") {
				t.Fatalf("carol: %d %q", r.StatusCode, r.Outcome())
			}
			// Consent without mobile → first_signin_in_client (in-client text).
			dave := w.app.Client()
			dave.UserAgent = wecom.UserAgentIOS
			r = w.signIn(t, dave, "dave", "/auth/wecom/corp/start")
			if r.Outcome() != "first_signin_in_client" {
				t.Fatalf("dave: %d %q", r.StatusCode, r.Outcome())
			}
			// Non-member (personal WeChat) → not_member.
			ext := w.app.Client()
			r = w.signIn(t, ext, wecomtest.ExternalUser, "/auth/wecom/corp/start")
			if r.Outcome() != "not_member" || r.StatusCode != http.StatusForbidden {
				t.Fatalf("external: %d %q", r.StatusCode, r.Outcome())
			}
			// Refused consent → cancelled.
			refuse := w.app.Client()
			refuse.UserAgent = wecom.UserAgentIOS
			refuse.Header(wecomtest.ActionHeader, "refuse")
			r = w.signIn(t, refuse, "bob", "/auth/wecom/corp/start")
			if r.Outcome() != "cancelled" {
				t.Fatalf("refuse: %d %q", r.StatusCode, r.Outcome())
			}
			// Forged state.
			r = w.app.Client().Get("/auth/wecom/corp/callback?code=x&state=" + url.QueryEscape(strings.Repeat("a", 64)))
			if r.Outcome() != "state_invalid" || r.StatusCode != http.StatusBadRequest {
				t.Fatalf("forged state: %d %q", r.StatusCode, r.Outcome())
			}
			if n := w.sim.Calls("gettoken"); n != 1 {
				t.Fatalf("gettoken calls = %d, want 1", n)
			}
		})
	}
}
