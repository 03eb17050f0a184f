package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
)

// secRoute is a registered route with its parameters filled in with real rows of the world.
type secRoute struct{ method, pattern, path string }

func (r secRoute) String() string { return r.method + " " + r.path }

// secWorld is an app with an admin, a member bound to a WeCom authenticator, and their ids.
type secWorld struct {
	app                    *webtest.App
	admin, member          models.User
	auth                   models.Authenticator
	binding                models.Binding
	adminClient, memClient *webtest.Client
}

func newSecWorld(t *testing.T, app *webtest.App) *secWorld {
	t.Helper()
	w := &secWorld{app: app, admin: fxUser(t, app, "root", true), member: fxUser(t, app, "mem", false)}
	w.auth = app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: "s3cret-value"})
	w.binding = models.Binding{UserID: w.member.ID, AuthenticatorID: w.auth.ID, Subject: "mem", CorpID: "ww1"}
	if err := app.Store.CreateBinding(context.Background(), &w.binding); err != nil {
		t.Fatal(err)
	}
	w.adminClient, w.memClient = fxSignedIn(t, app, "root"), fxSignedIn(t, app, "mem")
	return w
}

// routes returns the server's routes that match keep, from gin's own table, with their parameters
// filled in: the member for a user id, the authenticator "corp", the member's binding. A parameter the
// suite does not know gets "1": guards and the cross-origin check run before any handler reads it.
func (w *secWorld) routes(t *testing.T, keep func(method, path string) bool) []secRoute {
	t.Helper()
	var out []secRoute
	for _, ri := range w.app.Gatehouse.RoutesForTest() {
		if !keep(ri.Method, ri.Path) {
			continue
		}
		segs := strings.Split(ri.Path, "/")
		for i, s := range segs {
			switch {
			case s == ":id" && i > 0 && segs[i-1] == "users":
				segs[i] = strconv.FormatInt(w.member.ID, 10)
			case s == ":id" && i > 0 && segs[i-1] == "authenticators":
				segs[i] = strconv.FormatInt(w.auth.ID, 10)
			case s == ":bid":
				segs[i] = strconv.FormatInt(w.binding.ID, 10)
			case s == ":name":
				segs[i] = w.auth.Name
			case strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*"):
				segs[i] = "1"
			}
		}
		out = append(out, secRoute{ri.Method, ri.Path, strings.Join(segs, "/")})
	}
	if len(out) == 0 {
		t.Fatal("no route matched: the suite would prove nothing")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func isAdminRoute(_, path string) bool { return path == "/admin" || strings.HasPrefix(path, "/admin/") }

// pathVariants are the spellings of an admin path that a router, a proxy or a browser might treat as
// the same page (DESIGN.md §5: each is the same route with the same guard, or 404).
var pathVariants = []struct {
	name  string
	spell func(path string) string
}{
	{"as registered", func(p string) string { return p }},
	{"trailing slash", func(p string) string { return p + "/" }},
	{"upper case", strings.ToUpper},
	{"capitalised Admin", func(p string) string { return "/Admin" + strings.TrimPrefix(p, "/admin") }},
	{"%2e segment", func(p string) string { return "/admin/%2e" + strings.TrimPrefix(p, "/admin") }},
	{"./ segment", func(p string) string { return "/admin/." + strings.TrimPrefix(p, "/admin") }},
	{"../ back into admin", func(p string) string { return "/x/.." + p }},
	{"percent-encoded letter", func(p string) string { return "/%61dmin" + strings.TrimPrefix(p, "/admin") }},
	{"leading double slash", func(p string) string { return "/" + p }},
	{"inner double slash", func(p string) string { return "/admin/" + strings.TrimPrefix(p, "/admin") }},
	{"; after admin", func(p string) string { return "/admin;" + strings.TrimPrefix(p, "/admin") }},
	{"; at the end", func(p string) string { return p + ";x" }},
	{"encoded slash at the end", func(p string) string { return p + "%2f" }},
	{"/. at the end", func(p string) string { return p + "/." }},
	{"/%2e at the end", func(p string) string { return p + "/%2e" }},
	{"backslash for a slash", func(p string) string {
		if rest := strings.TrimPrefix(p, "/admin"); rest != "" {
			return "/admin" + strings.Replace(rest, "/", "\\", 1)
		}
		return "/admin\\"
	}},
	// A trailing-slash redirect must not turn these into a Location on another host.
	{"//evil.example prefix and trailing slash", func(p string) string { return "//evil.example" + p + "/" }},
	{"/\\evil.example prefix and trailing slash", func(p string) string { return "/\\evil.example" + p + "/" }},
}

// sendRaw sends method to the path exactly as written (no cleaning by the client) and follows
// same-site redirects (at most 3), returning the last response and the path it was for.
func sendRaw(t *testing.T, c *webtest.Client, app *webtest.App, method, path string) (*webtest.Response, string) {
	t.Helper()
	for hop := 0; ; hop++ {
		req, err := http.NewRequest(method, app.URL()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = "//" + req.URL.Host + path
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", app.URL())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		r := c.Do(req)
		if r.StatusCode < 300 || r.StatusCode >= 400 || hop == 3 {
			return r, path
		}
		next, err := url.Parse(r.Location())
		if err != nil || (next.Host != "" && next.Host != req.URL.Host) || !strings.HasPrefix(next.Path, "/") {
			return r, path // off site or odd: classify shows it
		}
		path = next.RequestURI()
		if r.StatusCode != http.StatusTemporaryRedirect && r.StatusCode != http.StatusPermanentRedirect {
			method = http.MethodGet
		}
	}
}

// classify names where a request for an admin page ended, in the words of the report.
func classify(r *webtest.Response) string {
	switch {
	case r.StatusCode == http.StatusNotFound || r.StatusCode == http.StatusForbidden:
		return strconv.Itoa(r.StatusCode)
	case r.StatusCode == http.StatusOK && r.Find("[data-testid=signin]").Length() == 1:
		return "sign-in page"
	case r.StatusCode >= 300 && r.StatusCode < 400:
		return fmt.Sprintf("%d to %s", r.StatusCode, r.Location())
	}
	return fmt.Sprintf("served %d", r.StatusCode)
}

// tally is how many requests ended in each way, "303 sign-in ×12, 404 ×6".
type tally map[string]int

func (t tally) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, t[k])
	}
	return strings.Join(parts, ", ")
}

// only tells whether every outcome is one of allowed.
func (t tally) only(allowed ...string) bool {
	for k := range t {
		if !contains(allowed, k) {
			return false
		}
	}
	return len(t) > 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSecurityAdminRoutes: every admin route (from the router's own table), in every path variant, is
// refused to an anonymous visitor (sign-in page) and to a signed-in member (403), or is 404; refused
// requests change no data; the admin still gets in.
func TestSecurityAdminRoutes(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newSecWorld(t, app)
		routes := w.routes(t, isAdminRoute)
		before := fxSnapshot(t, app)
		clients := []struct {
			name    string
			c       *webtest.Client
			allowed []string
		}{
			{"anonymous", app.Client(), []string{"sign-in page", "404"}},
			{"member", w.memClient, []string{"403", "404"}},
		}
		for _, cl := range clients {
			for _, v := range pathVariants {
				t.Run(cl.name+" "+v.name, func(t *testing.T) {
					seen := tally{}
					for _, rt := range routes {
						r, at := sendRaw(t, cl.c, app, rt.method, v.spell(rt.path))
						got := classify(r)
						seen[got]++
						if !contains(cl.allowed, got) {
							t.Errorf("%s %s ended at %s: %s", rt.method, v.spell(rt.path), at, got)
						}
					}
					securitytest.Check(t, fmt.Sprintf("admin routes (%d) as %s, path %s", len(routes), cl.name, v.name),
						strings.Join(cl.allowed, " or "), seen.String(), seen.only(cl.allowed...))
				})
			}
		}
		t.Run("anonymous is sent to sign in and back", func(t *testing.T) {
			seen := tally{}
			for _, rt := range routes {
				want := "/signin?redirect=" + url.QueryEscape(rt.path)
				if rt.method == http.MethodPost {
					want = "/signin" // a POST cannot be replayed after sign-in
				}
				c := app.Client()
				var first *webtest.Response
				if rt.method == http.MethodPost {
					first = c.Post(rt.path, nil)
				} else {
					first = c.Get(rt.path)
				}
				if first.StatusCode == http.StatusSeeOther && first.Location() == want {
					seen["303 to sign-in with the path"]++
				} else {
					seen[fmt.Sprintf("%d %s", first.StatusCode, first.Location())]++
					t.Errorf("%s: %d %q, want 303 %q", rt, first.StatusCode, first.Location(), want)
				}
			}
			securitytest.Report(t, fmt.Sprintf("admin routes (%d) as anonymous: where the guard sends", len(routes)),
				fmt.Sprintf("303 to sign-in with the path ×%d", len(routes)), seen.String())
		})
		after := fxSnapshot(t, app)
		securitytest.Report(t, "refused admin requests (anonymous and member, every variant) change data", "users, authenticators, bindings unchanged",
			unchanged(stripSessionsAndAudit(before) == stripSessionsAndAudit(after), "users, authenticators, bindings"))
		if r := w.adminClient.Get("/admin/users"); r.StatusCode != http.StatusOK {
			t.Fatalf("the admin is refused: %d", r.StatusCode)
		}
	})
}

func unchanged(same bool, what string) string {
	if same {
		return what + " unchanged"
	}
	return what + " CHANGED"
}

// stripSessionsAndAudit drops rows that guarded requests may touch legitimately (sessions slide, and
// nothing else): what matters is that users, authenticators and bindings did not change.
func stripSessionsAndAudit(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "sessions:") || strings.HasPrefix(line, "audit_events:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// TestSecurityCrossSitePosts: every POST route (from the router's own table) sent from another site is
// refused with 403 before any handler runs, for an admin's browser and an anonymous one, and changes
// nothing at all (not even a session's last-seen time); the same POST from the site works.
//
// Demo mode runs too: it adds POST routes of its own (the WeCom-client toggle, the simulator's pages).
func TestSecurityCrossSitePosts(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, crossSitePosts)
	t.Run("demo", func(t *testing.T) { webtest.ForEach(t, crossSitePosts, webtest.WithDemo()) })
}

// mode prefixes a row of a test that also runs in demo mode.
func mode(app *webtest.App) string {
	if app.Config.Demo {
		return "demo mode: "
	}
	return ""
}

func crossSitePosts(t *testing.T, app *webtest.App) {
	w := newSecWorld(t, app)
	posts := w.routes(t, func(method, path string) bool {
		return method == http.MethodPost && !contains(signedPosts, path) && !oidcProtocolPost(path)
	})
	// Forms that would do harm if accepted, so that "nothing changed" means something.
	forms := map[string]url.Values{
		"/signin":      fxForm("username", "root", "password", fxPassword),
		"/lang":        fxForm("lang", "zh"),
		"/admin/users": fxForm("username", "csrf-made", "password", "csrf-password", "is_admin", "on"),
		"/admin/users/" + strconv.FormatInt(w.member.ID, 10):                    fxForm("nickname", "pwned", "is_admin", "on"),
		"/admin/authenticators":                                                 fxForm("type", "wecom", "name", "evil", "title", "Evil", "corp_id", "ww9", "agent_id", "1", "secret", "x", "origin", "http://127.0.0.1", "enabled", "on"),
		"/admin/authenticators/" + strconv.FormatInt(w.auth.ID, 10):             fxForm("name", "corp", "title", "Hijacked", "corp_id", "ww1", "agent_id", "1000002", "secret", "attacker", "origin", app.URL()),
		"/admin/authenticators/" + strconv.FormatInt(w.auth.ID, 10) + "/delete": fxForm("confirm", "yes"),
		"/admin/authenticators/" + strconv.FormatInt(w.auth.ID, 10) + "/move":   fxForm("direction", "up"),
	}
	headers := []struct {
		name string
		set  func(h http.Header)
	}{
		{"Sec-Fetch-Site cross-site", func(h http.Header) { h.Set("Sec-Fetch-Site", "cross-site"); h.Set("Origin", "https://evil.example") }},
		{"foreign Origin without Sec-Fetch-Site", func(h http.Header) { h.Set("Origin", "https://evil.example") }},
		{"Sec-Fetch-Site same-site (a sibling subdomain)", func(h http.Header) { h.Set("Sec-Fetch-Site", "same-site") }},
		{"Origin null (sandboxed frame)", func(h http.Header) { h.Set("Origin", "null") }},
	}
	before := fxSnapshot(t, app)
	for _, hd := range headers {
		for _, who := range []struct {
			name string
			c    *webtest.Client
		}{{"admin", w.adminClient}, {"anonymous", app.Client()}} {
			t.Run(who.name+" "+hd.name, func(t *testing.T) {
				seen := tally{}
				for _, rt := range posts {
					req, err := http.NewRequest(http.MethodPost, app.URL()+rt.path, strings.NewReader(forms[rt.path].Encode()))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					hd.set(req.Header)
					r := who.c.Do(req)
					got := strconv.Itoa(r.StatusCode)
					if r.Header.Get("Set-Cookie") != "" {
						got += " with a cookie"
					}
					seen[got]++
					if got != "403" {
						t.Errorf("%s: %s, want 403", rt, got)
					}
				}
				securitytest.Report(t, fmt.Sprintf("%sPOST routes (%d) as %s, %s", mode(app), len(posts), who.name, hd.name),
					fmt.Sprintf("403 ×%d", len(posts)), seen.String())
			})
		}
	}
	securitytest.Report(t, mode(app)+"cross-site POSTs change data", "every table unchanged", unchanged(fxSnapshot(t, app) == before, "every table"))
	if r := w.adminClient.Get("/admin"); r.StatusCode != http.StatusOK {
		t.Fatalf("the admin was signed out by a cross-site POST: %d", r.StatusCode)
	}
	// The same request from the site itself goes through (the refusal is about the origin).
	if r := w.adminClient.Post("/admin/users/"+strconv.FormatInt(w.member.ID, 10)+"/sessions/revoke", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", r.StatusCode)
	}
}

// signedPosts are POST routes that servers, not browsers, call, authenticated by a signature over the
// body rather than by a cookie: exempt from the cross-origin check (TestSecurityEventsCrossOriginExempt).
var signedPosts = []string{"/auth/wecom/:name/events"}

// publicRoutes are the routes an anonymous visitor may use; every other route must send them to sign
// in. A route added without a guard fails TestSecurityEveryOtherRouteNeedsSignIn until it is either
// guarded or listed here on purpose.
var publicRoutes = []string{
	"GET /", "GET /signin", "POST /signin", "POST /lang",
	"GET /healthz", "GET /readyz", "GET /metrics", "GET /static/*file",
	// WeCom's trusted-domain check fetches the domain verification file anonymously; only a stored
	// WW_verify_<code>.txt is served, every other name is 404 (TestSecurityVerifyFileServesOnlyItsName).
	"GET /:file",
}

// publicPrefixes hold routes that are anonymous by nature: sign-in flows and protocols whose callers
// have no Gatehouse session (WeCom's redirects, relying parties), and the demo's simulator.
var publicPrefixes = []string{"/auth/", "/oidc/", "/_demo/", "/_wecom/"}

func isPublic(method, path string) bool {
	if contains(publicRoutes, method+" "+path) {
		return true
	}
	for _, p := range publicPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// TestSecurityEveryOtherRouteNeedsSignIn: default deny. Every route that is not public on purpose
// sends an anonymous visitor to sign in, whatever group it was added to.
func TestSecurityEveryOtherRouteNeedsSignIn(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newSecWorld(t, app)
		routes := w.routes(t, func(method, path string) bool { return !isPublic(method, path) })
		seen := tally{}
		for _, rt := range routes {
			c := app.Client()
			var r *webtest.Response
			if rt.method == http.MethodPost {
				r = c.Post(rt.path, nil)
			} else {
				r = c.Get(rt.path)
			}
			if r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Location(), "/signin") {
				seen["303 to sign-in"]++
				continue
			}
			seen[fmt.Sprintf("%s %d", rt, r.StatusCode)]++
			t.Errorf("%s (route %s) answers an anonymous visitor with %d: guard it, or add it to publicRoutes if it is meant to be public",
				rt, rt.pattern, r.StatusCode)
		}
		securitytest.Report(t, fmt.Sprintf("every route that is not public (%d) as anonymous", len(routes)),
			fmt.Sprintf("303 to sign-in ×%d", len(routes)), seen.String())
	})
}
