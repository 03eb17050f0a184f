package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

// withForwardedFor believes X-Forwarded-For from loopback, so that clients of one test can come from
// several addresses.
func withForwardedFor() webtest.Option {
	return func(c *web.Config, _ *web.Options) { c.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} }
}

// postSignin posts the sign-in form from a plain HTTP client (safe in a goroutine, unlike webtest's,
// which fails the test from where it runs) and returns the status.
func postSignin(app *webtest.App, username, password string) (int, error) {
	form := url.Values{"username": {username}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, app.URL()+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", app.URL())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Parallel wrong passwords for one account are counted as they arrive, not after bcrypt: at most the
// limit of them reach the password check (401); the rest are throttled (429).
func TestSecurityParallelPasswordGuesses(t *testing.T) {
	timingTest(t)
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("root", fxPassword, true, "") // production bcrypt cost: a guess takes a while
		const guesses = 24
		statuses := make([]int, guesses)
		errs := make([]error, guesses)
		var wg sync.WaitGroup
		for i := range guesses {
			wg.Go(func() { statuses[i], errs[i] = postSignin(app, "root", "wrong-password") })
		}
		wg.Wait()
		byStatus := map[int]int{}
		for i, s := range statuses {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			byStatus[s]++
		}
		if byStatus[401] > 5 || byStatus[401]+byStatus[429] != guesses {
			t.Fatalf("answers %v: want at most 5 × 401 and the rest 429", byStatus)
		}
		if n := fxAudit(t, app, "signin.failed", "root"); n != int64(byStatus[401]) {
			t.Fatalf("signin.failed rows %d, want one per 401 (%d)", n, byStatus[401])
		}
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 1000}))
}

// Wrong passwords from strangers cannot lock an account's owner out: a browser that signed in to the
// account before (device cookie), or an address that did, keeps an allowance of its own.
func TestSecurityStrangerCannotLockOut(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		from := func(ip string) *webtest.Client {
			c := app.Client()
			c.Header("X-Forwarded-For", ip)
			return c
		}
		home := from("10.0.0.1")
		home.SignIn("root", fxPassword)
		device := home.Cookie(auth.DeviceCookie)
		if device == "" {
			t.Fatal("no device cookie after a successful sign-in")
		}
		attacker := from("203.0.113.9")
		for i := range 5 {
			if r := attacker.Post("/signin", fxForm("username", "root", "password", "wrong")); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d, want 401", i+1, r.StatusCode)
			}
		}
		travelling := from("198.51.100.20") // the admin's own browser, on the road
		travelling.SetCookie(auth.DeviceCookie, device)
		forged := from("198.51.100.30")
		forged.SetCookie(auth.DeviceCookie, device[:len(device)-4]+"AAAA")
		steps := []struct {
			name     string
			client   *webtest.Client
			password string
			status   int
		}{
			{"the attacker is throttled after five guesses", attacker, "wrong", 429},
			{"the attacker is throttled with the right password too", attacker, fxPassword, 429},
			{"the owner's browser, from a new address, still signs in (device cookie)", travelling, fxPassword, 303},
			{"a new browser at an address the owner signed in from still signs in", from("10.0.0.1"), fxPassword, 303},
			{"a new browser at a new address shares the strangers' locked allowance", from("192.0.2.50"), fxPassword, 429},
			{"a forged device cookie counts as a stranger", forged, fxPassword, 429},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				if r := s.client.Post("/signin", fxForm("username", "root", "password", s.password)); r.StatusCode != s.status {
					t.Fatalf("status %d, want %d", r.StatusCode, s.status)
				}
			})
		}
		t.Run("a known browser's own allowance is limited too", func(t *testing.T) {
			for range 5 {
				if r := travelling.Post("/signin", fxForm("username", "root", "password", "wrong")); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess from the known browser: %d, want 401", r.StatusCode)
				}
			}
			if r := travelling.Post("/signin", fxForm("username", "root", "password", fxPassword)); r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("after five guesses from the known browser: %d, want 429", r.StatusCode)
			}
			if r := from("10.0.0.1").Post("/signin", fxForm("username", "root", "password", fxPassword)); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("the known address, after its browser used up its allowance: %d, want 303", r.StatusCode)
			}
		})
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 1000}), withForwardedFor())
}

// A WeCom sign-in marks the browser as known for the account too.
func TestDeviceCookieAfterWeComSignin(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite"} {
		w := newWeComWorld(t, dialect, true)
		w.app.CreateUser("alice", "", false, "+86 138 0000 0001")
		phone := w.app.Client()
		phone.UserAgent = wecom.UserAgentIOS
		if r := w.signIn(t, phone, "alice", "/auth/wecom/corp/start?redirect=/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("WeCom sign-in: %d", r.StatusCode)
		}
		if phone.Cookie(auth.DeviceCookie) == "" {
			t.Fatal("no device cookie after a WeCom sign-in")
		}
	}
}

// Anonymous refusals from one address write a bounded number of audit rows, with targets cut to valid
// UTF-8; the refusals themselves still happen and the rest are counted in /metrics.
func TestSecurityAnonymousAuditFlood(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		c := app.Client()
		names := []string{strings.Repeat("%C3%A9", 400), "bad%FFname", "nul%00name"}
		for i := range 200 {
			r := c.Get("/auth/wecom/" + names[i%len(names)] + "/callback?code=x&state=y")
			if r.StatusCode != http.StatusNotFound {
				t.Fatalf("refusal %d: %d, want 404", i, r.StatusCode)
			}
		}
		var rows []models.AuditEvent
		if err := app.Store.DB().Where("ip = ?", "127.0.0.1").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		// A minute boundary during the test may open a second minute's allowance.
		if max := 2 * (models.AnonymousAuditPerMinute + 1); len(rows) > max {
			t.Fatalf("%d audit rows for 200 refusals, want at most %d", len(rows), max)
		}
		if !slices.ContainsFunc(rows, func(e models.AuditEvent) bool { return e.Action == models.ActionSigninSuppressed }) {
			t.Fatal("no signin.suppressed summary row")
		}
		for _, e := range rows {
			if !utf8.ValidString(e.Target) || strings.ContainsRune(e.Target, 0) || utf8.RuneCountInString(e.Target) > 256 {
				t.Fatalf("audit target not cut to valid text: %q…", e.Target[:min(40, len(e.Target))])
			}
		}
		scraper := app.Client()
		scraper.Header("Authorization", "Bearer "+webtest.MetricsToken)
		if body := scraper.Get("/metrics").Body; !strings.Contains(body, `gatehouse_audit_suppressed_total{action="signin.refused"}`) {
			t.Fatal("suppressed refusals not counted in /metrics")
		}
	}, webtest.WithMetrics())
}

// An unknown username and a wrong password get the same status, the same page (but for the username
// typed) and take about as long (bcrypt against a dummy hash), so the answer does not tell which
// usernames exist.
func TestSecurityEnumeration(t *testing.T) {
	timingTest(t)
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("root", fxPassword, true, "") // production cost, as the dummy hash has
		page := func(username string) (int, string, time.Duration) {
			c := app.Client()
			start := time.Now()
			r := c.Post("/signin", fxForm("username", username, "password", "wrong-password"))
			return r.StatusCode, strings.ReplaceAll(r.Body, username, "USERNAME"), time.Since(start)
		}
		median := func(ds []time.Duration) time.Duration {
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		// measure returns the median times of a few tries of each kind, interleaved so that load on
		// the machine falls on both alike.
		measure := func(round int) (known, unknown time.Duration) {
			const tries = 5
			var ks, us []time.Duration
			var knownPage, unknownPage string
			for i := range tries {
				status, body, d := page("root")
				if status != http.StatusUnauthorized {
					t.Fatalf("wrong password: %d, want 401", status)
				}
				ks, knownPage = append(ks, d), body
				status, body, d = page(fmt.Sprintf("ghost%d%d", round, i))
				if status != http.StatusUnauthorized {
					t.Fatalf("unknown user: %d, want 401", status)
				}
				us, unknownPage = append(us, d), body
			}
			if knownPage != unknownPage {
				t.Fatalf("the pages differ:\nwrong password: %.2000s\nunknown user: %.2000s", knownPage, unknownPage)
			}
			return median(ks), median(us)
		}
		// Timing on a shared machine is noisy: a round out of range is measured again, up to three
		// rounds. A real difference (no dummy bcrypt: about 0.03×) fails every round.
		var k, u time.Duration
		for round := range 3 {
			k, u = measure(round)
			if ratio := float64(u) / float64(k); ratio >= 0.5 && ratio <= 2 {
				return
			}
		}
		t.Fatalf("median time: unknown user %v, wrong password %v (ratio %.2f), want within 0.5–2×", u, k, float64(u)/float64(k))
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 1000, PerIP: 1000}))
}
