package web_test

import (
	"net/http"
	"testing"

	"gatehouse/web/webtest"
)

// A shared or back-button cache must never keep a signed-in page: every page of a signed-in user and
// every admin, account and /auth/ response carries Cache-Control: no-store (DESIGN.md §6).
func TestSecurityNoStoreOnPrivatePages(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "bob", false)
		app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
		clients := map[string]*webtest.Client{"anonymous": app.Client(), "member": fxSignedIn(t, app, "bob"), "admin": fxSignedIn(t, app, "root")}
		tests := []struct {
			who, path string
			noStore   bool
		}{
			{"admin", "/admin", true},
			{"admin", "/admin/users", true},
			{"admin", "/admin/authenticators", true},
			{"admin", "/admin/audit", true},
			{"admin", "/account", true},
			{"admin", "/", true},
			{"admin", "/signin", true},
			{"admin", "/nowhere", true},
			{"member", "/account", true},
			{"member", "/m", true},
			{"member", "/admin", true}, // the 403 page
			{"member", "/signin", true},
			{"anonymous", "/admin", true},   // the redirect to sign in
			{"anonymous", "/account", true}, // same
			{"anonymous", "/m", true},
			{"anonymous", "/auth/wecom/corp/callback?code=x&state=y", true},   // state_invalid outcome page
			{"anonymous", "/auth/wecom/nobody/callback?code=x&state=y", true}, // authenticator_unavailable
			{"anonymous", "/auth/wecom/corp/start", true},
			{"anonymous", "/signin", false},
			{"anonymous", "/healthz", false},
			{"admin", "/healthz", false}, // probes and assets never look at the session
		}
		for _, tt := range tests {
			t.Run(tt.who+" GET "+tt.path, func(t *testing.T) {
				r := clients[tt.who].Get(tt.path)
				if r.StatusCode >= http.StatusInternalServerError {
					t.Fatalf("status %d", r.StatusCode)
				}
				got := r.Header.Get("Cache-Control")
				if tt.noStore && got != "no-store" {
					t.Fatalf("status %d, Cache-Control %q, want no-store", r.StatusCode, got)
				}
				if !tt.noStore && got == "no-store" {
					t.Fatalf("Cache-Control no-store on a public response")
				}
			})
		}
		t.Run("member POST /signout", func(t *testing.T) {
			r := fxSignedIn(t, app, "bob").Post("/signout", nil)
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d, Cache-Control %q, want no-store", r.StatusCode, r.Header.Get("Cache-Control"))
			}
		})
	})
}
