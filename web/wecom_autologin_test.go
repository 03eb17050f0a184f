package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gatehouse/models/modelstest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestWeComAutoLogin: inside the WeCom client, with an auto-login authenticator, a page that needs
// sign-in goes through WeCom and lands signed in on that page; a failed round ends on its outcome page
// and the next request goes to /signin with the reason (never straight back to WeCom) while the guard
// lives; nothing happens automatically in other browsers or when the authenticator is disabled.
func TestWeComAutoLogin(t *testing.T) {
	tests := []struct {
		name     string
		ua       string
		member   string
		refuse   bool
		disabled bool // the auto-login authenticator is disabled
		noAuto   bool // the authenticator has no auto login
		path     string
		// want
		landing  string // final path after following every redirect
		outcome  string // data-outcome of a failed round's page
		viaWeCom bool   // the round went through the simulator
		// next is where the following anonymous request for /admin goes (a failed round only).
		next string
	}{
		{name: "desktop client opens /admin: bound admin signed in", ua: wecom.UserAgentDesktop, member: "alice", path: "/admin", landing: "/admin", viaWeCom: true},
		{name: "phone client opens /m: signed in on the phone page", ua: wecom.UserAgentIOS, member: "alice", path: "/m", landing: "/m", viaWeCom: true},
		{name: "phone client opens /admin", ua: wecom.UserAgentAndroid, member: "alice", path: "/admin", landing: "/admin", viaWeCom: true},
		{name: "desktop client opens /: home of an admin", ua: wecom.UserAgentDesktop, member: "alice", path: "/", landing: "/admin", viaWeCom: true},
		{name: "member refuses consent: outcome page, then /signin with the reason", ua: wecom.UserAgentIOS, member: "alice", refuse: true, path: "/admin",
			outcome: "cancelled", viaWeCom: true, next: "/signin?redirect=%2Fadmin&reason=cancelled"},
		{name: "no account for the member's mobile: outcome page, then /signin with the reason", ua: wecom.UserAgentDesktop, member: "bob", path: "/admin",
			outcome: "no_account", viaWeCom: true, next: "/signin?redirect=%2Fadmin&reason=no_account"},
		{name: "normal browser: sign-in page, no WeCom", ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/129.0 Safari/537.36", member: "alice", path: "/admin", landing: "/signin"},
		{name: "personal WeChat is not the WeCom client", ua: "Mozilla/5.0 (iPhone) Mobile/15E148 MicroMessenger/8.0.50", member: "alice", path: "/admin", landing: "/signin"},
		{name: "authenticator disabled: sign-in page", ua: wecom.UserAgentIOS, member: "alice", disabled: true, path: "/admin", landing: "/signin"},
		{name: "authenticator without auto login: sign-in page", ua: wecom.UserAgentIOS, member: "alice", noAuto: true, path: "/admin", landing: "/signin"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					w := newWorld(t, dialect, worldSpec{AutoLogin: !tt.noAuto})
					// Bound already: a mobile match alone never binds an admin (TestSecurityWeComPrivilegedMobileMatch).
					w.bind(t, w.a, w.app.CreateUser("alice", "", true, "13800000001"), "alice")
					if tt.disabled {
						a := w.a
						a.Enabled = false
						if err := w.app.Store.SaveAuthenticator(context.Background(), &a); err != nil {
							t.Fatal(err)
						}
					}
					c := w.app.Client()
					c.UserAgent = tt.ua
					c.Header(wecomtest.MemberHeader, tt.member)
					if tt.refuse {
						c.Header(wecomtest.ActionHeader, "refuse")
					}
					r, hops := c.Follow(tt.path)
					if went := throughWeCom(hops, w); went != tt.viaWeCom {
						t.Errorf("through WeCom = %v, want %v: %v", went, tt.viaWeCom, hops)
					}
					if tt.outcome != "" {
						if r.Outcome() != tt.outcome {
							t.Fatalf("failed round ends on %d %q, want %q", r.StatusCode, r.Outcome(), tt.outcome)
						}
						if n := countRows(t, w.app).sessions; n != 0 {
							t.Errorf("%d sessions after a failed round", n)
						}
						// The next anonymous request: to /signin with the reason, not to WeCom.
						next := c.Get("/admin")
						if next.StatusCode != http.StatusSeeOther || next.Location() != tt.next {
							t.Fatalf("next request: %d to %q, want %q", next.StatusCode, next.Location(), tt.next)
						}
						page, hops := c.Follow("/admin")
						if throughWeCom(hops, w) || page.Find("[data-testid=signin]").Length() != 1 {
							t.Fatalf("guarded request went %v", hops)
						}
						if msg := page.Find("[data-testid=signin-error]").Text(); strings.TrimSpace(msg) == "" {
							t.Errorf("sign-in page does not show the reason")
						}
						return
					}
					if r.StatusCode != http.StatusOK || r.Request.URL.Path != tt.landing {
						t.Fatalf("lands on %d %s, want %s; hops %v", r.StatusCode, r.Request.URL.Path, tt.landing, hops)
					}
					if tt.landing == "/signin" {
						if countRows(t, w.app).sessions != 0 {
							t.Errorf("a session without sign-in")
						}
						if got := r.Request.URL.Query().Get("redirect"); got != tt.path {
							t.Errorf("sign-in page redirect = %q, want %q", got, tt.path)
						}
						return
					}
					if c.Cookie("gatehouse_autologin") != "" {
						t.Errorf("loop guard still set after a successful sign-in")
					}
				})
			}
		})
	}
}

// throughWeCom tells whether a browser's hops reached the simulator.
func throughWeCom(hops []string, w *wecomWorld) bool {
	for _, h := range hops {
		if !strings.HasPrefix(h, w.app.URL()) {
			return true
		}
	}
	return false
}
