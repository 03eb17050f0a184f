package web_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/web/webtest"
)

func TestPasswordSignin(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "mem", false)
		tests := []struct {
			name, username, password, redirect string
			status                             int
			location                           string
		}{
			{"admin lands on /admin", "root", fxPassword, "", 303, "/admin"},
			{"member lands on /account", "mem", fxPassword, "", 303, "/account"},
			{"username is case-insensitive", "ROOT", fxPassword, "", 303, "/admin"},
			{"safe redirect is followed", "mem", fxPassword, "/account?tab=sessions", 303, "/account?tab=sessions"},
			{"protocol-relative redirect falls back to home", "mem", fxPassword, "//evil.com/x", 303, "/account"},
			{"backslash redirect falls back to home", "root", fxPassword, "/\\evil.com", 303, "/admin"},
			{"absolute redirect falls back to home", "root", fxPassword, "https://evil.com/", 303, "/admin"},
			{"javascript redirect falls back to home", "mem", fxPassword, "javascript:alert(1)", 303, "/account"},
			{"encoded double slash falls back to home", "mem", fxPassword, "/%2F%2Fevil.com", 303, "/account"},
			{"encoded backslash falls back to home", "mem", fxPassword, "/%5Cevil.com", 303, "/account"},
			{"double-encoded double slash falls back to home", "mem", fxPassword, "/%252F%252Fevil.com", 303, "/account"},
			{"tab-prefixed redirect falls back to home", "mem", fxPassword, "\t//evil.com", 303, "/account"},
			{"wrong password is 401", "root", "wrong-password", "", 401, ""},
			{"unknown user is 401", "ghost", fxPassword, "", 401, ""},
			{"empty form is 401", "", "", "", 401, ""},
		}
		messages := map[string]bool{}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := app.Client()
				r := c.Post("/signin", fxForm("username", tt.username, "password", tt.password, "redirect", tt.redirect))
				if r.StatusCode != tt.status || r.Location() != tt.location {
					t.Fatalf("POST /signin: %d %q, want %d %q", r.StatusCode, r.Location(), tt.status, tt.location)
				}
				if tt.status == http.StatusSeeOther {
					if c.Cookie("gatehouse_session") == "" {
						t.Fatal("no session cookie after a successful sign-in")
					}
					return
				}
				msg := strings.TrimSpace(r.Find("[data-testid=signin-error]").Text())
				if msg == "" {
					t.Fatal("no error message on a failed sign-in")
				}
				messages[msg] = true
				if v, _ := r.Find("input[name=username]").Attr("value"); v != tt.username {
					t.Fatalf("username not kept: %q", v)
				}
				if tt.password != "" && strings.Contains(r.Body, tt.password) {
					t.Fatal("the password typed is echoed on the page")
				}
				if c.Cookie("gatehouse_session") != "" {
					t.Fatal("a failed sign-in set a session cookie")
				}
			})
		}
		if len(messages) != 1 {
			t.Fatalf("failed sign-ins show %d different messages (%v): they must not tell unknown users apart", len(messages), messages)
		}
		if n := fxAudit(t, app, "signin.failed", "ghost"); n != 1 {
			t.Fatalf("signin.failed rows for the unknown user: %d, want 1", n)
		}
		if n := fxAudit(t, app, "signin.ok", "root"); n != 4 {
			t.Fatalf("signin.ok rows for root: %d, want 4", n)
		}
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 1000}))
}

func TestSigninDisabledUser(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		u := fxUser(t, app, "gone", false)
		u.Disabled = true
		if err := app.Store.SaveUser(t.Context(), &u); err != nil {
			t.Fatal(err)
		}
		c := app.Client()
		r := c.Post("/signin", fxForm("username", "gone", "password", fxPassword))
		if r.StatusCode != http.StatusForbidden || c.Cookie("gatehouse_session") != "" {
			t.Fatalf("disabled user: %d, cookie %q; want 403 and no session", r.StatusCode, c.Cookie("gatehouse_session"))
		}
		if n := fxAudit(t, app, "signin.refused", "gone"); n != 1 {
			t.Fatalf("signin.refused rows: %d, want 1", n)
		}
	})
}

var minutesRe = regexp.MustCompile(`Try again in (\d+) minutes`)

func TestSigninThrottled(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "mem", false)
		attempt := func(username, password string) *webtest.Response {
			return app.Client().Post("/signin", fxForm("username", username, "password", password))
		}
		throttled := func(t *testing.T, r *webtest.Response) {
			t.Helper()
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", r.StatusCode)
			}
			m := minutesRe.FindStringSubmatch(r.Find("[data-testid=signin-error]").Text())
			if m == nil {
				t.Fatalf("no \"Try again in N minutes\" message: %q", r.Find("[data-testid=signin-error]").Text())
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > 15 {
				t.Fatalf("try again in %s minutes, want 1..15", m[1])
			}
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 15*60+1 {
				t.Fatalf("Retry-After %q, want seconds until the window frees up", r.Header.Get("Retry-After"))
			}
		}
		t.Run("three wrong passwords lock the account, even for the right password", func(t *testing.T) {
			for range 3 {
				if r := attempt("root", "wrong-password"); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong password: %d", r.StatusCode)
				}
			}
			throttled(t, attempt("root", fxPassword))
		})
		t.Run("another account from the same address still signs in", func(t *testing.T) {
			if r := attempt("mem", fxPassword); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", r.StatusCode)
			}
		})
		t.Run("five failures from one address lock every account there", func(t *testing.T) {
			for _, u := range []string{"ghost1", "ghost2"} {
				if r := attempt(u, "wrong-password"); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("unknown user: %d", r.StatusCode)
				}
			}
			throttled(t, attempt("mem", fxPassword))
		})
		t.Run("the throttled attempt is counted in metrics", func(t *testing.T) {
			scraper := app.Client()
			scraper.Header("Authorization", "Bearer "+webtest.MetricsToken)
			body := scraper.Get("/metrics").Body
			if !strings.Contains(body, `gatehouse_signins_total{method="password",outcome="throttled"}`) {
				t.Fatal("no throttled outcome in /metrics")
			}
		})
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 3, PerIP: 5}), webtest.WithMetrics())
}
