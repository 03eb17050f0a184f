package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
	"gatehouse/web/webtest"
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
}

func newWeComWorld(t *testing.T, dialect string, autoSignup bool) *wecomWorld {
	t.Helper()
	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.New(t, dialect, webtest.WithWeCom(simSrv.URL))
	host := strings.TrimPrefix(app.URL(), "http://")
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: []string{host}, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []wecomtest.Member{
		{UserID: "alice", Name: "Alice Wang", Mobile: "13800000001", Email: "alice@acme.test"},
		{UserID: "bob", Name: "Bob Li", Mobile: "13800000002"},
		{UserID: "carol", Name: "Carol", Mobile: "13800000003", VisibleTo: []int64{999}},
		{UserID: "dave", Name: "Dave", Mobile: "13800000004", HideMobile: true},
	} {
		if err := sim.AddMember(corpID, m); err != nil {
			t.Fatal(err)
		}
	}
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, AutoSignup: autoSignup, MobilePath: "/m"})
	return &wecomWorld{app: app, sim: sim, a: a}
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
