package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
)

// TestSecuritySessionFixation: a session id chosen or known by an attacker before the victim signs in
// with a password is never the victim's session afterwards. (The WeCom sign-in's rows are in
// TestSecurityWeCom.)
func TestSecuritySessionFixation(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "mallory", false)
		attacker := fxSignedIn(t, app, "mallory")
		attackerCookie := attacker.Cookie("gatehouse_session")
		tests := []struct {
			name, planted string
		}{
			{"a made-up cookie value planted before sign-in", "attacker-chosen-session-id"},
			{"a valid cookie of another, earlier session", attackerCookie},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				victim := app.Client()
				victim.SetCookie("gatehouse_session", tt.planted)
				victim.SignIn("root", fxPassword)
				got := victim.Cookie("gatehouse_session")
				observed := "new session id, planted id anonymous"
				switch {
				case got == "" || got == tt.planted:
					observed = "planted id kept"
				case !fxAnonymous(t, app, tt.planted):
					observed = "planted id still signed in"
				}
				securitytest.Report(t, "session fixation, password sign-in: "+tt.name, "new session id, planted id anonymous", observed)
				if r := victim.Get("/admin"); r.StatusCode != http.StatusOK {
					t.Fatalf("the victim is not signed in with the new cookie: %d", r.StatusCode)
				}
			})
		}
	})
}

// TestSecuritySignoutReuse: a session cookie copied before sign-out is worth nothing after it.
func TestSecuritySignoutReuse(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		mem := fxUser(t, app, "mem", false)
		c := fxSignedIn(t, app, "mem")
		old := c.Cookie("gatehouse_session")
		r := c.Post("/signout", nil)
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/signin" {
			t.Fatalf("POST /signout: %d %q", r.StatusCode, r.Location())
		}
		if c.Cookie("gatehouse_session") != "" {
			t.Fatal("the session cookie was not deleted")
		}
		observed := "anonymous (303 /signin)"
		if !fxAnonymous(t, app, old) {
			observed = "still signed in"
		}
		securitytest.Report(t, "sign-out reuse: the session cookie replayed after POST /signout", "anonymous (303 /signin)", observed)
		if n := fxAudit(t, app, "signout", mem.Username); n != 1 {
			t.Fatalf("signout audit rows: %d", n)
		}
	})
}

func TestDisableAndSignOutEverywhere(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		alice := fxUser(t, app, "alice", false)
		bob := fxUser(t, app, "bob", false)
		admin := fxSignedIn(t, app, "root")
		aliceLaptop, alicePhone := fxSignedIn(t, app, "alice"), fxSignedIn(t, app, "alice")
		bobLaptop := fxSignedIn(t, app, "bob")

		t.Run("sign out everywhere ends every session of that user on the next request", func(t *testing.T) {
			r := admin.Post("/admin/users/"+strconv.FormatInt(alice.ID, 10)+"/sessions/revoke", nil)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke: %d", r.StatusCode)
			}
			for _, c := range []*webtest.Client{aliceLaptop, alicePhone} {
				if r := c.Get("/account"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/signin") {
					t.Fatalf("alice's session survived: %d %q", r.StatusCode, r.Location())
				}
			}
			if r := bobLaptop.Get("/account"); r.StatusCode != http.StatusOK {
				t.Fatalf("bob was signed out too: %d", r.StatusCode)
			}
			if n := fxAudit(t, app, "session.revoke", "alice"); n != 1 {
				t.Fatalf("session.revoke audit rows: %d", n)
			}
		})
		t.Run("disabling a user ends their session on the next request", func(t *testing.T) {
			r := admin.Post("/admin/users/"+strconv.FormatInt(bob.ID, 10), fxForm("nickname", "Bob", "disabled", "on"))
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("disable: %d", r.StatusCode)
			}
			if r := bobLaptop.Get("/account"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/signin") {
				t.Fatalf("disabled bob still signed in: %d %q", r.StatusCode, r.Location())
			}
			if r := app.Client().Post("/signin", fxForm("username", "bob", "password", fxPassword)); r.StatusCode != http.StatusForbidden {
				t.Fatalf("disabled bob signs in again: %d", r.StatusCode)
			}
		})
	})
}

// TestSecuritySessionExpiry: idle and absolute lifetimes are enforced by the server, whatever the
// browser keeps.
func TestSecuritySessionExpiry(t *testing.T) {
	t.Parallel()
	clk := newFxClock()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "mem", false)
		signedIn := func(c *webtest.Client) bool {
			r := c.Get("/account")
			return r.StatusCode == http.StatusOK
		}
		t.Run("activity keeps a session alive past the idle timeout", func(t *testing.T) {
			c := fxSignedIn(t, app, "mem")
			for range 3 {
				clk.Advance(23 * time.Hour)
				if !signedIn(c) {
					t.Fatal("signed out while active within the idle timeout (24h)")
				}
			}
		})
		t.Run("idle timeout signs out", func(t *testing.T) {
			c := fxSignedIn(t, app, "mem")
			clk.Advance(23 * time.Hour)
			if !signedIn(c) {
				t.Fatal("signed out before the idle timeout")
			}
			clk.Advance(24*time.Hour + time.Minute)
			securitytest.Report(t, "idle expiry: a session unused for 24h 1m", "signed out", signedInWord(signedIn(c)))
		})
		t.Run("absolute timeout signs out even an active session", func(t *testing.T) {
			c := fxSignedIn(t, app, "mem")
			for i := range 8 {
				clk.Advance(20 * time.Hour) // 160h after 8 rounds
				if !signedIn(c) {
					t.Fatalf("signed out after %dh of activity, before the absolute timeout (168h)", (i+1)*20)
				}
			}
			clk.Advance(9 * time.Hour) // 169h
			securitytest.Report(t, "absolute expiry: a session used every 20h, 169h after sign-in", "signed out", signedInWord(signedIn(c)))
		})
	}, webtest.WithClock(clk.Now))
}

func TestAccountSessions(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "mem", false)
		fxUser(t, app, "other", false)
		laptop, phone := fxSignedIn(t, app, "mem"), fxSignedIn(t, app, "mem")
		otherUser := fxSignedIn(t, app, "other")
		r := laptop.Get("/account")
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=session-row]").Length() != 2 {
			t.Fatalf("/account: %d with %d session rows, want 200 and 2 (own sessions only)", r.StatusCode, r.Find("[data-testid=session-row]").Length())
		}
		r = laptop.Post("/account/sessions/revoke-others", nil)
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/account" {
			t.Fatalf("revoke others: %d %q", r.StatusCode, r.Location())
		}
		if r := phone.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("the other session survived: %d", r.StatusCode)
		}
		r = laptop.Get("/account")
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=session-row]").Length() != 1 {
			t.Fatalf("after revoking others: %d with %d rows, want this session only", r.StatusCode, r.Find("[data-testid=session-row]").Length())
		}
		if r.Find("[data-testid=flash]").Length() != 1 {
			t.Fatal("no flash message after revoking other sessions")
		}
		if r := otherUser.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("another user's session was revoked: %d", r.StatusCode)
		}
		if r := laptop.Get("/m"); r.StatusCode != http.StatusOK || r.Find("[data-testid=account]").Length() != 1 {
			t.Fatalf("/m: %d", r.StatusCode)
		}
	})
}

func signedInWord(in bool) string {
	if in {
		return "signed in"
	}
	return "signed out"
}
