package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models/modelstest"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
)

// openRedirects are redirect targets an attacker puts in a link to Gatehouse, hoping to send the
// person on to a site of theirs after signing in (DESIGN.md §6 "Safe redirect"). lands is where the
// browser must end instead: "" means the place's default; a look-alike that is really a local path may
// be kept, because a browser resolves it on this site.
var openRedirects = []struct{ name, target, lands string }{
	{"//evil", "//evil.example", ""},
	{"//evil with a path", "//evil.example/account", ""},
	{"/\\evil", "/\\evil.example", ""},
	{"\\\\evil", `\\evil.example`, ""},
	{"https://evil", "https://evil.example/", ""},
	{"https:evil (no slashes)", "https:evil.example", ""},
	{"https:/evil (one slash)", "https:/evil.example", ""},
	{"javascript: URL", "javascript:alert(document.cookie)", ""},
	{"data: URL", "data:text/html,<script>alert(1)</script>", ""},
	{"user info //user@evil", "//user@evil.example", ""},
	{"%2F%2F: /%2F%2Fevil", "/%2F%2Fevil.example", ""},
	{"%2F%2F at the start", "%2F%2Fevil.example", ""},
	{"%5C: /%5Cevil", "/%5Cevil.example", ""},
	{"%5C%5C at the start", "%5C%5Cevil.example", ""},
	{"double-encoded /%252F%252Fevil", "/%252F%252Fevil.example", ""},
	{"tab inside //", "/\t/evil.example", ""},
	{"tab before //", "\t//evil.example", ""},
	{"encoded tab inside //", "/%09/evil.example", ""},
	{"newline (header injection)", "/account\r\nLocation: https://evil.example", ""},
	{"encoded newline (header injection)", "/account%0d%0aLocation:%20https://evil.example", ""},
	{"leading space", " //evil.example", ""},
	{"look-alike fullwidth solidus ／／evil", "／／evil.example", ""},
	{"look-alike ideographic full stop 。evil", "。evil.example", ""},
	{"look-alike division slash /∕evil (a local path)", "/∕evil.example", "/∕evil.example"},
	{"look-alike encoded fullwidth solidus (a local path)", "/%EF%BC%8F%EF%BC%8Fevil.example", "/／／evil.example"},
	{"very long local path (over 2048 bytes)", "/" + strings.Repeat("a", 3000), ""},
	{"very long //evil", "//evil.example/" + strings.Repeat("a", 3000), ""},
}

// landing names where a redirect sends the browser: "this site <path>" or "another site <host>".
func landing(app *webtest.App, r *webtest.Response) string {
	if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusFound {
		return "no redirect: " + http.StatusText(r.StatusCode)
	}
	loc := r.Location()
	if strings.ContainsAny(loc, "\r\n\t\\") {
		return "Location with a control character or backslash"
	}
	base, _ := url.Parse(app.URL() + "/signin")
	u, err := base.Parse(loc)
	if err != nil {
		return "unparsable Location"
	}
	if u.Host != base.Host || u.Scheme != base.Scheme {
		return "another site " + u.Scheme + "://" + u.Host
	}
	where := u.Path // decoded, so that the escaping's letter case does not matter
	if u.RawQuery != "" {
		where += "?" + u.RawQuery
	}
	return "this site " + where
}

// TestSecurityOpenRedirect tries every variant where Gatehouse takes a redirect target: the password
// form, /signin for someone already signed in, and a whole WeCom round trip (start → WeCom → callback).
func TestSecurityOpenRedirect(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
			fxUser(t, w.app, "mem", false)
			member := fxSignedIn(t, w.app, "mem")
			places := []struct {
				name, fallback string
				try            func(target string) *webtest.Response
			}{
				{"POST /signin redirect", "/account", func(target string) *webtest.Response {
					return w.app.Client().Post("/signin", fxForm("username", "mem", "password", fxPassword, "redirect", target))
				}},
				{"GET /signin?redirect= when signed in", "/account", func(target string) *webtest.Response {
					return member.Get("/signin?redirect=" + url.QueryEscape(target))
				}},
				{"WeCom round trip start?redirect=", "/", func(target string) *webtest.Response {
					c := w.app.Client()
					return c.Get(w.toCallback(t, c, "alice", "/auth/wecom/corp/start?redirect="+url.QueryEscape(target)))
				}},
			}
			for _, p := range places {
				t.Run(p.name, func(t *testing.T) {
					for _, v := range openRedirects {
						lands := v.lands
						if lands == "" {
							lands = p.fallback
						}
						securitytest.Report(t, "open redirect via "+p.name+": "+v.name, "this site "+lands, landing(w.app, p.try(v.target)))
					}
					// The check is not refusing everything: a local target is kept.
					securitytest.Report(t, "open redirect via "+p.name+": a local path (control)", "this site /account?tab=1", landing(w.app, p.try("/account?tab=1")))
				})
			}
			t.Run("GET /signin?redirect= form field", func(t *testing.T) {
				for _, v := range openRedirects {
					r := w.app.Client().Get("/signin?redirect=" + url.QueryEscape(v.target))
					got, _ := r.Find("input[name=redirect]").Attr("value")
					want := "" // refused targets are dropped, kept ones are kept as typed
					if v.lands != "" {
						want = v.target
					}
					observed := "field " + quoteEmpty(got)
					r.Find(`a[href*="/auth/wecom/"]`).Each(func(_ int, a *goquery.Selection) {
						if href, _ := a.Attr("href"); strings.Contains(href, "evil") && want == "" {
							observed += ", WeCom button carries it"
						}
					})
					securitytest.Report(t, "open redirect kept in the sign-in form and WeCom button: "+v.name, "field "+quoteEmpty(want), observed)
				}
			})
		})
	}
}

func quoteEmpty(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
