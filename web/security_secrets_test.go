package web_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// secrets is every secret a scenario handled, by kind, to search for in what Gatehouse shows.
type secrets map[string][]string

func (s secrets) add(kind string, values ...string) {
	for _, v := range values {
		if v != "" {
			s[kind] = append(s[kind], v)
		}
	}
}

// foundIn names the kinds of secret that occur in text ("" when none).
func (s secrets) foundIn(text string) []string {
	var found []string
	for kind, values := range s {
		for _, v := range values {
			if strings.Contains(text, v) {
				found = append(found, kind)
				break
			}
		}
	}
	sort.Strings(found)
	return found
}

// kinds lists what was searched for, with counts: "OAuth codes ×4, …".
func (s secrets) kinds(except ...string) string {
	var parts []string
	for kind, values := range s {
		if !contains(except, kind) {
			parts = append(parts, fmt.Sprintf("%s ×%d", kind, len(values)))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// leakScenario records what Gatehouse sent back during a scenario: pages, Locations it issued.
type leakScenario struct {
	w         *wecomWorld
	pages     []string
	locations []string
	noReferer []string // /auth/ responses without Referrer-Policy: no-referrer
	secrets   secrets
}

// see keeps a response of Gatehouse (not of the WeCom simulator) for the searches.
func (s *leakScenario) see(r *webtest.Response) *webtest.Response {
	if r.Request.URL.Host != strings.TrimPrefix(s.w.app.URL(), "http://") {
		return r
	}
	s.pages = append(s.pages, r.Body)
	if loc := r.Location(); loc != "" {
		s.locations = append(s.locations, loc)
	}
	if strings.HasPrefix(r.Request.URL.Path, "/auth/") && r.Header.Get("Referrer-Policy") != "no-referrer" {
		s.noReferer = append(s.noReferer, r.Request.URL.Path)
	}
	return r
}

// wecomSignIn runs a WeCom sign-in as member from user agent ua, keeping every response, the OAuth
// code and state it saw, and the session cookie it ended with.
func (s *leakScenario) wecomSignIn(t *testing.T, ua, member string) {
	t.Helper()
	c := s.w.app.Client()
	c.UserAgent = ua
	c.Header(wecomtest.MemberHeader, member)
	s.see(c.Get("/auth/wecom/corp/start?redirect=/account")) // its headers; the sign-in starts again below
	callback := s.w.toCallback(t, c, member, "/auth/wecom/corp/start?redirect=/account")
	u, _ := url.Parse(callback)
	s.secrets.add("OAuth codes", u.Query().Get("code"))
	s.secrets.add("OAuth states", u.Query().Get("state"))
	s.see(c.Get(callback))
	s.see(c.Get("/account"))
	s.secrets.add("session cookies", c.Cookie(auth.SessionCookie))
}

// TestSecuritySecretsNeverLeak runs a whole scenario (password sign-ins right and wrong, WeCom
// sign-ins in every flow, WeCom failures, an admin creating users, setting a password, typing a new
// WeCom secret, testing the connection, reading every admin page, signing out) and searches
// everything Gatehouse let out for every secret it handled: pages, the Locations it redirected to,
// its whole log, /metrics, and the audit log's targets and details.
func TestSecuritySecretsNeverLeak(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const rootPassword, wrongPassword = "correct horse battery", "Wrong-Guess-Password-31"
			const memberPassword, setPassword = "Member-Password-Secret-55", "Set-By-Admin-Password-77"
			w, admin := adminWorld(t, dialect, worldSpec{AutoSignup: true})
			w.app.CreateUser("alice", "", false, "13800000001")
			s := &leakScenario{w: w, secrets: secrets{}}
			s.secrets.add("WeCom app secret", secret, newSecret)
			key := w.app.Config.SecretKey
			s.secrets.add("secret key", string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key))
			s.secrets.add("passwords", rootPassword, wrongPassword, memberPassword, setPassword)
			s.secrets.add("session cookies", admin.Cookie(auth.SessionCookie))

			// Password sign-ins, right and wrong; an admin creates a user and sets a password.
			s.see(w.app.Client().Post("/signin", fxForm("username", "root", "password", wrongPassword)))
			s.see(w.app.Client().Post("/signin", fxForm("username", "nobody", "password", wrongPassword)))
			r := s.see(admin.Post("/admin/users", fxForm("username", "bob", "password", memberPassword)))
			s.see(admin.Post("/admin/users", fxForm("username", "bad name!", "password", memberPassword)))
			bob := w.app.Client()
			bob.SignIn("bob", memberPassword)
			s.secrets.add("session cookies", bob.Cookie(auth.SessionCookie))
			s.see(admin.Post(r.Location(), fxForm("nickname", "Bob", "password", setPassword)))

			// WeCom sign-ins in every flow, and each kind of WeCom failure.
			for _, ua := range []string{"", wecom.UserAgentIOS, wecom.UserAgentDesktop} {
				s.wecomSignIn(t, ua, "alice")
			}
			for _, code := range []int{40001, 60020, 301002, -1} {
				w.sim.FailNext("getuserinfo", 4, code)
				c := w.app.Client()
				c.UserAgent = wecom.UserAgentIOS
				callback := w.toCallback(t, c, "bob", "/auth/wecom/corp/start")
				u, _ := url.Parse(callback)
				s.secrets.add("OAuth codes", u.Query().Get("code"))
				s.see(c.Get(callback))
			}
			s.see(w.app.Client().Get("/auth/wecom/nope/start"))
			s.see(w.app.Client().Get("/auth/wecom/corp/callback?state=x"))

			tokens := cachedTokens(t, w.app)
			if len(tokens) == 0 {
				t.Fatal("no access token cached: the search would prove nothing")
			}
			s.secrets.add("access tokens", tokens...)

			// The admin types a new secret (one WeCom does not know: the test fails and says why), tests the connection and reads every page.
			edit := fmt.Sprintf("/admin/authenticators/%d", w.a.ID)
			s.see(admin.Post(edit, wecomFormValues(w, map[string]string{"name": "corp", "secret": newSecret, "api_base": "", "auto_signup": "on"})))
			s.see(admin.Post(edit+"/test", nil))
			for _, p := range []string{"/admin", "/admin/users", "/admin/audit", "/admin/authenticators", edit, "/account", "/admin/users/" + strconv.FormatInt(fxUserByName(t, w.app, "bob").ID, 10)} {
				s.see(admin.Get(p))
			}
			s.see(bob.Post("/signout", nil))
			metrics := w.app.Client().Get("/metrics").Body

			var audit strings.Builder
			var events []models.AuditEvent
			if err := w.app.Store.DB().Find(&events).Error; err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				fmt.Fprintln(&audit, e.Action, e.Target, e.Detail)
			}
			// A state is in the URL to WeCom by design; everywhere else it is a secret too.
			sinks := []struct {
				name, text string
				except     []string
			}{
				{"HTML pages", strings.Join(s.pages, "\n"), nil},
				{"redirect Locations", strings.Join(s.locations, "\n"), []string{"OAuth states"}},
				{"server log", w.app.Logs(), nil},
				{"/metrics", metrics, nil},
				{"audit targets and details", audit.String(), nil},
			}
			for _, sink := range sinks {
				var found []string
				for _, kind := range s.secrets.foundIn(sink.text) {
					if !contains(sink.except, kind) {
						found = append(found, kind)
					}
				}
				observed := "none found"
				if len(found) > 0 && testing.Verbose() {
					for _, v := range append(s.secrets["OAuth codes"], s.secrets["OAuth states"]...) {
						if i := strings.Index(sink.text, v); i >= 0 {
							t.Logf("%s: …%s…", sink.name, sink.text[max(0, i-300):i+len(v)])
						}
					}
				}
				if len(found) > 0 {
					observed = "found: " + strings.Join(found, ", ")
				}
				securitytest.Report(t, "secrets in "+sink.name+" ("+s.secrets.kinds(sink.except...)+")", "none found", observed)
			}
			observed := "no-referrer on every /auth/ page"
			if len(s.noReferer) > 0 {
				observed = "missing on " + strings.Join(s.noReferer, ", ")
			}
			securitytest.Report(t, "OAuth code leaked in a Referer from an /auth/ page", "no-referrer on every /auth/ page", observed)
		})
	}
}

func fxUserByName(t *testing.T, app *webtest.App, username string) models.User {
	t.Helper()
	var u models.User
	if err := app.Store.DB().Where("username = ?", username).First(&u).Error; err != nil {
		t.Fatal(err)
	}
	return u
}
