package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// proxyApp creates a forward-auth app directly in the store (the admin pages are another issue's).
func proxyApp(t *testing.T, app *webtest.App, name string, enabled bool, groups []string, domains ...string) models.App {
	t.Helper()
	a := models.App{Name: name, Title: strings.ToUpper(name[:1]) + name[1:], Type: models.AppTypeProxy, Enabled: enabled,
		Access: models.AccessEveryone, Domains: domains, ClientID: apps.NewClientID()}
	if groups != nil {
		a.Access, a.Groups = models.AccessGroups, groups
	}
	if err := app.Store.CreateApp(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if !enabled { // GORM writes the column's default (true) for a false bool on create
		a.Enabled = false
		must(t, app.Store.SaveApp(context.Background(), &a))
	}
	return a
}

// group creates a group with rules.
func group(t *testing.T, app *webtest.App, name, rules string) {
	t.Helper()
	if err := app.Store.CreateGroup(context.Background(), &models.Group{Name: name, Title: name, Rules: rules}); err != nil {
		t.Fatal(err)
	}
}

// check asks Gatehouse as a reverse proxy would, carrying the browser's cookies from c: kind
// "forward" sends X-Forwarded-*, "nginx" X-Original-*. extra headers are added as given.
func check(t *testing.T, c *webtest.Client, kind, method, origURL string, extra ...string) *webtest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "/auth/proxy/"+kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(origURL)
	if err != nil {
		t.Fatal(err)
	}
	if kind == "nginx" {
		req.Header.Set("X-Original-URL", origURL)
		req.Header.Set("X-Original-Method", method)
	} else {
		req.Header.Set("X-Forwarded-Proto", u.Scheme)
		req.Header.Set("X-Forwarded-Host", u.Host)
		req.Header.Set("X-Forwarded-Uri", u.RequestURI())
		req.Header.Set("X-Forwarded-Method", method)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	return c.Do(fixURL(c, req))
}

// fixURL makes a path request absolute on the client's app (webtest.Client.Do wants a full URL).
func fixURL(c *webtest.Client, req *http.Request) *http.Request {
	r := c.Get("/healthz") // learn the app's origin from a request the client makes anyway
	req.URL = r.Request.URL.ResolveReference(req.URL)
	req.Host = req.URL.Host
	return req
}

func identity(r *webtest.Response) string {
	var parts []string
	for _, k := range []string{"Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups"} {
		v, ok := r.Header[k]
		if !ok {
			parts = append(parts, k+" missing")
			continue
		}
		parts = append(parts, k+"="+strings.Join(v, "|"))
	}
	return strings.Join(parts, " ")
}

// TestForwardAuth follows DESIGN.md §10's forward-auth rows on both endpoints and both databases.
func TestForwardAuth(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		alice := fxUser(t, app, "alice", false)
		alice.Nickname, alice.Email = "王 Alice", "alice@acme.test"
		must(t, app.Store.SaveUser(context.Background(), &alice))
		fxUser(t, app, "bob", false)
		fxUser(t, app, "root", true)
		group(t, app, "ops", "user:alice")
		group(t, app, "dev", "user:alice\nuser:root")
		proxyApp(t, app, "grafana", true, nil, "grafana.corp.test")
		proxyApp(t, app, "tools", true, []string{"ops"}, "*.tools.corp.test")
		proxyApp(t, app, "old", false, nil, "old.corp.test")
		clients := map[string]*webtest.Client{"anon": app.Client(), "alice": fxSignedIn(t, app, "alice"), "bob": fxSignedIn(t, app, "bob"), "root": fxSignedIn(t, app, "root")}
		signin := func(u string) string { return app.URL() + "/signin?rd=" + url.QueryEscape(u) }
		for _, tc := range []struct {
			name, who, kind, method, url string
			status                       int
			location, outcome, ident     string
		}{
			{"uncovered host, anonymous", "anon", "forward", "GET", "https://other.corp.test/", 403, "", "", ""},
			{"uncovered host, signed in", "alice", "forward", "GET", "https://other.corp.test/", 403, "", "", ""},
			{"uncovered host via nginx", "alice", "nginx", "GET", "https://other.corp.test/", 403, "", "", ""},
			{"bare suffix of a wildcard is not covered", "alice", "forward", "GET", "https://tools.corp.test/", 403, "", "", ""},
			{"disabled app covers nothing", "alice", "forward", "GET", "https://old.corp.test/", 403, "", "", ""},
			{"covered, anonymous: 302 to the origin's sign-in with rd", "anon", "forward", "GET", "https://grafana.corp.test/d/x?from=now-1h", 302, signin("https://grafana.corp.test/d/x?from=now-1h"), "", ""},
			{"covered, anonymous via nginx: 401 with Location", "anon", "nginx", "GET", "https://grafana.corp.test:8443/a%20b?x=1", 401, signin("https://grafana.corp.test:8443/a%20b?x=1"), "", ""},
			{"allowed: all four headers", "alice", "forward", "GET", "https://grafana.corp.test/", 200, "", "", "Remote-User=alice Remote-Name=%E7%8E%8B%20Alice Remote-Email=alice@acme.test Remote-Groups=dev,ops"},
			{"allowed via nginx", "alice", "nginx", "GET", "https://grafana.corp.test/", 200, "", "", "Remote-User=alice Remote-Name=%E7%8E%8B%20Alice Remote-Email=alice@acme.test Remote-Groups=dev,ops"},
			{"empty headers when unknown", "bob", "forward", "GET", "https://GRAFANA.corp.test:443/", 200, "", "", "Remote-User=bob Remote-Name=Bob Remote-Email= Remote-Groups="},
			{"in the app's group, wildcard host", "alice", "forward", "GET", "https://ci.tools.corp.test/", 200, "", "", "Remote-User=alice Remote-Name=%E7%8E%8B%20Alice Remote-Email=alice@acme.test Remote-Groups=dev,ops"},
			{"not in the app's group: app_denied", "bob", "forward", "GET", "https://ci.tools.corp.test/", 403, "", "app_denied", ""},
			{"not in the app's group via nginx", "bob", "nginx", "POST", "https://ci.tools.corp.test/", 403, "", "app_denied", ""},
			{"an admin passes every rule", "root", "forward", "GET", "https://ci.tools.corp.test/", 200, "", "", "Remote-User=root Remote-Name=Root Remote-Email= Remote-Groups=dev"},
			{"a POST is judged by the method header", "anon", "forward", "POST", "https://grafana.corp.test/api", 302, signin("https://grafana.corp.test/api"), "", ""},
			{"missing forwarded headers: refused", "alice", "forward", "GET", "ftp://grafana.corp.test/", 403, "", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := check(t, clients[tc.who], tc.kind, tc.method, tc.url)
				if r.StatusCode != tc.status || r.Location() != tc.location || (tc.outcome != "" && r.Outcome() != tc.outcome) {
					t.Fatalf("got %d Location %q outcome %q; want %d %q %q", r.StatusCode, r.Location(), r.Outcome(), tc.status, tc.location, tc.outcome)
				}
				if tc.ident != "" && identity(r) != tc.ident {
					t.Fatalf("identity %q, want %q", identity(r), tc.ident)
				}
				if tc.status != 200 && r.Header.Get("Remote-User") != "" {
					t.Fatalf("a refusal carries Remote-User %q", r.Header.Get("Remote-User"))
				}
			})
		}
		t.Run("the app_denied page names the app", func(t *testing.T) {
			r := check(t, clients["bob"], "forward", "GET", "https://ci.tools.corp.test/")
			if !strings.Contains(r.Find("main").Text(), "Tools") {
				t.Fatalf("page does not name the app: %q", r.Find("main").Text())
			}
			clients["bob"].Language = "zh"
			r = check(t, clients["bob"], "forward", "GET", "https://ci.tools.corp.test/")
			if !strings.Contains(r.Find("h1").Text(), "你无权使用 Tools") {
				t.Fatalf("page not translated: %q", r.Find("h1").Text())
			}
		})
	}, webtest.WithMetrics())
}

// TestSecurityForwardForgedHeaders: Remote-* headers and a query string the client sends play no part
// in a check; only the caller's own session does.
func TestSecurityForwardForgedHeaders(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "bob", false)
		fxUser(t, app, "root", true)
		proxyApp(t, app, "grafana", true, nil, "grafana.corp.test")
		proxyApp(t, app, "ops", true, []string{"ops"}, "ops.corp.test")
		group(t, app, "ops", "user:root")
		forged := []string{"Remote-User", "root", "Remote-Groups", "ops", "Remote-Email", "root@evil", "Remote-Name", "root"}
		anon := app.Client()
		r := check(t, anon, "forward", "GET", "https://grafana.corp.test/", forged...)
		securitytest.Report(t, "forward-auth: anonymous with forged Remote-User", "302 no identity", statusIdentity(r))
		bob := fxSignedIn(t, app, "bob")
		r = check(t, bob, "forward", "GET", "https://grafana.corp.test/", forged...)
		securitytest.Report(t, "forward-auth: signed in with forged Remote-* headers", "200 Remote-User=bob Remote-Name=Bob Remote-Email= Remote-Groups=", statusIdentity(r))
		r = check(t, bob, "forward", "GET", "https://ops.corp.test/", forged...)
		securitytest.Report(t, "forward-auth: forged Remote-Groups does not pass a group rule", "403 no identity", statusIdentity(r))
		req, _ := http.NewRequest(http.MethodGet, "/auth/proxy/forward?rd=https://evil.example/&host=grafana.corp.test", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "grafana.corp.test")
		req.Header.Set("X-Forwarded-Uri", "/")
		r = anon.Do(fixURL(anon, req))
		securitytest.Report(t, "forward-auth: Gatehouse's own query string is ignored", "302 "+app.URL()+"/signin?rd="+url.QueryEscape("https://grafana.corp.test/"), r.Status[:3]+" "+r.Location())
	})
}

func statusIdentity(r *webtest.Response) string {
	if r.StatusCode == 200 {
		return "200 " + identity(r)
	}
	if r.Header.Get("Remote-User") != "" {
		return r.Status[:3] + " Remote-User=" + r.Header.Get("Remote-User")
	}
	return r.Status[:3] + " no identity"
}

// TestSecurityForwardUncoveredHost: a host no enabled proxy app covers is refused whoever asks, and
// Gatehouse never sends a browser to sign in for it (no rd for arbitrary hosts).
func TestSecurityForwardUncoveredHost(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		proxyApp(t, app, "tools", true, nil, "*.tools.corp.test")
		root := fxSignedIn(t, app, "root")
		for _, host := range []string{"evil.example", "tools.corp.test", "tools.corp.test.evil.example", "eviltools.corp.test", "ci.tools.corp.test@evil.example", "ci.tools.corp.test/evil"} {
			for _, c := range []*webtest.Client{app.Client(), root} {
				req, _ := http.NewRequest(http.MethodGet, "/auth/proxy/forward", nil)
				req.Header.Set("X-Forwarded-Proto", "https")
				req.Header.Set("X-Forwarded-Host", host)
				r := c.Do(fixURL(c, req))
				securitytest.Report(t, "forward-auth: uncovered host "+host, "403 no identity", statusIdentity(r))
			}
		}
	})
}

// TestSecurityForwardRedirect applies every open-redirect variant of the security suite to rd, plus
// the forward-auth ones (uncovered host, userinfo, http when the origin is https): none is followed.
func TestSecurityForwardRedirect(t *testing.T) {
	extra := []struct{ name, target string }{
		{"uncovered host", "http://evil.example/"},
		{"bare suffix of a wildcard", "http://tools.corp.test/"},
		{"userinfo before a covered host", "http://user@ci.tools.corp.test/"},
		{"covered name as userinfo", "http://ci.tools.corp.test@evil.example/"},
		{"covered name as a subdomain of evil", "http://ci.tools.corp.test.evil.example/"},
		{"another scheme", "ftp://ci.tools.corp.test/"},
		{"javascript with a covered host", "javascript://ci.tools.corp.test/%0aalert(1)"},
		{"scheme-relative covered host", "//ci.tools.corp.test/"},
		{"backslash after the host", "http://ci.tools.corp.test\\@evil.example/"},
		{"encoded slash in the host", "http://ci.tools.corp.test%2F@evil.example/"},
		{"disabled app", "http://old.corp.test/"},
		{"newline after a covered URL", "http://ci.tools.corp.test/\r\nLocation: http://evil.example/"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
			fxUser(t, w.app, "mem", false)
			proxyApp(t, w.app, "tools", true, nil, "*.tools.corp.test")
			proxyApp(t, w.app, "old", false, nil, "old.corp.test")
			member := fxSignedIn(t, w.app, "mem")
			places := []struct {
				name, fallback string
				try            func(rd string) *webtest.Response
			}{
				{"POST /signin from /signin?rd=", "/account", func(rd string) *webtest.Response {
					c := w.app.Client()
					page := c.Get("/signin?rd=" + url.QueryEscape(rd))
					kept, _ := page.Find("input[name=redirect]").Attr("value")
					return c.Post("/signin", fxForm("username", "mem", "password", fxPassword, "redirect", kept))
				}},
				{"POST /signin redirect=", "/account", func(rd string) *webtest.Response {
					return w.app.Client().Post("/signin", fxForm("username", "mem", "password", fxPassword, "redirect", rd))
				}},
				{"GET /signin?rd= when signed in", "/account", func(rd string) *webtest.Response {
					return member.Get("/signin?rd=" + url.QueryEscape(rd))
				}},
				{"WeCom round trip from the sign-in page's button", "/", func(rd string) *webtest.Response {
					c := w.app.Client()
					page := c.Get("/signin?rd=" + url.QueryEscape(rd))
					href, _ := page.Find(`a[href*="/auth/wecom/corp/start"]`).Attr("href")
					return c.Get(w.toCallback(t, c, "alice", href))
				}},
			}
			for _, p := range places {
				t.Run(p.name, func(t *testing.T) {
					for _, v := range openRedirects {
						lands := v.lands
						if lands == "" {
							lands = p.fallback
						}
						if strings.HasPrefix(p.name, "POST /signin redirect") || lands == p.fallback {
							securitytest.Report(t, "forward rd via "+p.name+": "+v.name, "this site "+lands, forwardLanding(w.app, p.try(v.target)))
						}
					}
					for _, v := range extra {
						securitytest.Report(t, "forward rd via "+p.name+": "+v.name, "this site "+p.fallback, forwardLanding(w.app, p.try(v.target)))
					}
					// The check is not refusing everything: a covered app's URL is followed.
					securitytest.Report(t, "forward rd via "+p.name+": a covered app (control)", "app http://ci.tools.corp.test:8080/x?y=1", forwardLanding(w.app, p.try("http://ci.tools.corp.test:8080/x?y=1")))
				})
			}
		})
	}
	t.Run("http rd when the origin is https", func(t *testing.T) {
		app := webtest.New(t, modelstest.Dialects()[0], func(c *web.Config, _ *web.Options) {
			c.BaseURL = &url.URL{Scheme: "https", Host: "gate.corp.test"}
		})
		fxUser(t, app, "mem", false)
		proxyApp(t, app, "tools", true, nil, "*.tools.corp.test")
		try := func(rd string) string {
			c := app.Client()
			page := c.Get("/signin?rd=" + url.QueryEscape(rd))
			kept, _ := page.Find("input[name=redirect]").Attr("value")
			return c.Post("/signin", fxForm("username", "mem", "password", fxPassword, "redirect", kept)).Location()
		}
		securitytest.Report(t, "forward rd: http when the origin is https", "/account", try("http://ci.tools.corp.test/"))
		securitytest.Report(t, "forward rd: https when the origin is https (control)", "https://ci.tools.corp.test/", try("https://ci.tools.corp.test/"))
	})
}

// forwardLanding is landing, but names a redirect to a covered app by its URL.
func forwardLanding(app *webtest.App, r *webtest.Response) string {
	if loc := r.Location(); (r.StatusCode == http.StatusSeeOther || r.StatusCode == http.StatusFound) && strings.HasPrefix(loc, "http://ci.tools.corp.test") {
		return "app " + loc
	}
	return landing(app, r)
}

// TestSecurityForwardRevokedSession: sign-out, disabling the user, "sign out everywhere" and an
// admin's revocation are refused at the next check, on the instance that revoked and on another
// instance of the same database (well within DESIGN.md §8's 1 s: sessions are never cached).
func TestSecurityForwardRevokedSession(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			store := modelstest.Open(t, dialect)
			a := webtest.NewOnStore(t, store)
			b := webtest.NewOnStore(t, store)
			fxUser(t, a, "root", true)
			proxyApp(t, a, "grafana", true, nil, "grafana.corp.test")
			admin := fxSignedIn(t, a, "root")
			for _, tc := range []struct {
				name   string
				revoke func(t *testing.T, c *webtest.Client, u models.User)
			}{
				{"sign-out", func(t *testing.T, c *webtest.Client, _ models.User) { c.Post("/signout", nil) }},
				{"user disabled by an admin", func(t *testing.T, _ *webtest.Client, u models.User) {
					r := admin.Post("/admin/users/"+itoa(u.ID), fxForm("username", u.Username, "nickname", u.Nickname, "disabled", "on"))
					if r.StatusCode != http.StatusSeeOther || !fxUserRow(t, a, u.ID).Disabled {
						t.Fatalf("disable: %d", r.StatusCode)
					}
				}},
				{"sign out everywhere", func(t *testing.T, _ *webtest.Client, u models.User) {
					r := admin.Post("/admin/users/"+itoa(u.ID)+"/sessions/revoke", nil)
					if r.StatusCode != http.StatusSeeOther {
						t.Fatalf("revoke: %d", r.StatusCode)
					}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					name := "u" + itoa(time.Now().UnixNano()%1e9)
					u := fxUser(t, a, name, false)
					c := fxSignedIn(t, a, name)
					// The browser's cookie, as the proxy in front of instance b would pass it on.
					cb := b.Client()
					cb.SetCookie("gatehouse_session", c.Cookie("gatehouse_session"))
					for _, x := range []*webtest.Client{c, cb} {
						if r := check(t, x, "forward", "GET", "https://grafana.corp.test/"); r.StatusCode != 200 {
							t.Fatalf("before: %d", r.StatusCode)
						}
					}
					tc.revoke(t, c, u)
					start := time.Now()
					ra := check(t, c, "forward", "GET", "https://grafana.corp.test/")
					securitytest.Report(t, "forward-auth after "+tc.name+", same instance", "302 no identity", statusIdentity(ra))
					rb := check(t, cb, "forward", "GET", "https://grafana.corp.test/")
					for rb.StatusCode == 200 && time.Since(start) < time.Second {
						time.Sleep(50 * time.Millisecond)
						rb = check(t, cb, "forward", "GET", "https://grafana.corp.test/")
					}
					securitytest.Report(t, "forward-auth after "+tc.name+", other instance within 1 s", "302 no identity", statusIdentity(rb))
				})
			}
		})
	}
}

// TestForwardAuditAndMetrics: checks are counted by outcome in /metrics; a refusal is audited once
// per user, app and minute.
func TestForwardAuditAndMetrics(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "bob", false)
		proxyApp(t, app, "ops", true, []string{"ops"}, "ops.corp.test")
		proxyApp(t, app, "grafana", true, nil, "grafana.corp.test")
		bob := fxSignedIn(t, app, "bob")
		for range 5 {
			check(t, bob, "forward", "GET", "https://ops.corp.test/")
		}
		check(t, bob, "nginx", "GET", "https://grafana.corp.test/")
		check(t, app.Client(), "nginx", "GET", "https://nowhere.corp.test/")
		n, err := app.Store.CountEvents(context.Background(), "app.signin", time.Time{})
		must(t, err)
		if n != 1 {
			t.Fatalf("%d app.signin events for five refusals within a minute, want 1", n)
		}
		page, err := app.Store.ListAudit(context.Background(), models.AuditFilter{Action: "app.signin"}, 0, 10)
		must(t, err)
		if len(page.Events) != 1 || page.Events[0].Target != "ops" || !strings.Contains(string(page.Events[0].Detail), `"app_denied"`) {
			t.Fatalf("audit rows %+v", page.Events)
		}
		m := app.Client()
		m.Header("Authorization", "Bearer "+webtest.MetricsToken)
		body := m.Get("/metrics").Body
		for _, want := range []string{
			`gatehouse_forward_auth_checks_total{app="ops",outcome="app_denied"} 5`,
			`gatehouse_forward_auth_checks_total{app="grafana",outcome="allowed"} 1`,
			`gatehouse_forward_auth_checks_total{app="",outcome="uncovered"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}, webtest.WithMetrics())
}

// TestForwardRDAfterWeComSignin: the whole browser path without a proxy: a check sends the browser
// to /signin?rd=, the WeCom button carries rd through the state, and the callback lands on the app.
func TestForwardRDAfterWeComSignin(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
			proxyApp(t, w.app, "grafana", true, nil, "grafana.corp.test")
			c := w.app.Client()
			r := check(t, c, "forward", "GET", "http://grafana.corp.test/d/1?x=y")
			page := c.Get(r.Location())
			href, _ := page.Find(`a[href*="/auth/wecom/corp/start"]`).Attr("href")
			r = c.Get(w.toCallback(t, c, "alice", href))
			if r.StatusCode != http.StatusSeeOther || r.Location() != "http://grafana.corp.test/d/1?x=y" {
				t.Fatalf("callback: %d %q", r.StatusCode, r.Location())
			}
			if r := check(t, c, "forward", "GET", "http://grafana.corp.test/d/1?x=y"); r.StatusCode != 200 || r.Header.Get("Remote-User") != "alice" {
				t.Fatalf("check after sign-in: %d %q", r.StatusCode, r.Header.Get("Remote-User"))
			}
		})
	}
}

// TestCookieDomainConfig: GATEHOUSE_COOKIE_DOMAIN must be the origin's host or a parent of it.
func TestCookieDomainConfig(t *testing.T) {
	for _, tc := range []struct {
		base, domain, want, err string
	}{
		{"https://gate.corp.example", "corp.example", "corp.example", ""},
		{"https://gate.corp.example", ".Corp.Example", "corp.example", ""},
		{"https://gate.corp.example:8443", "gate.corp.example", "gate.corp.example", ""},
		{"https://gate.corp.example", "other.example", "", "GATEHOUSE_COOKIE_DOMAIN: \"other.example\" is neither"},
		{"https://gate.corp.example", "ate.corp.example", "", "neither"},
		{"https://gate.corp.example", "corp.example:443", "", "not a domain name"},
		{"https://gate.corp.example", "https://corp.example", "", "not a domain name"},
		{"", "corp.example", "", "needs GATEHOUSE_BASE_URL"},
		{"http://127.0.0.1:8080", "0.1", "", "IP address"},
		{"https://gate.corp.example", "", "", ""},
	} {
		env := map[string]string{"GATEHOUSE_BASE_URL": tc.base, "GATEHOUSE_COOKIE_DOMAIN": tc.domain}
		cfg, err := web.LoadConfig(func(k string) string { return env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "GATEHOUSE_COOKIE_DOMAIN") {
				t.Errorf("%s/%s: err %v, want %q", tc.base, tc.domain, err, tc.err)
			}
			continue
		}
		if err != nil || cfg.CookieDomain != tc.want {
			t.Errorf("%s/%s: %q %v, want %q", tc.base, tc.domain, cfg.CookieDomain, err, tc.want)
		}
	}
}

// TestCookieDomainOnSessionCookie: with a cookie domain the session cookie carries it, and the
// dashboard warns about proxy apps whose domains the cookie does not reach.
func TestCookieDomainOnSessionCookie(t *testing.T) {
	app := webtest.New(t, modelstest.Dialects()[0], func(c *web.Config, _ *web.Options) { c.CookieDomain = "127.0.0.1" })
	fxUser(t, app, "root", true)
	r := app.Client().Post("/signin", fxForm("username", "root", "password", fxPassword))
	var found bool
	for _, ck := range r.Cookies() {
		if ck.Name == "gatehouse_session" && ck.Domain == "127.0.0.1" {
			found = true
		}
	}
	if !found {
		t.Fatalf("session cookie without Domain: %v", r.Header["Set-Cookie"])
	}
	proxyApp(t, app, "grafana", true, nil, "grafana.corp.test")
	d := fxSignedIn(t, app, "root").Get("/admin")
	if !strings.Contains(d.Body, "outside GATEHOUSE_COOKIE_DOMAIN") {
		t.Fatalf("dashboard does not warn about grafana.corp.test outside the cookie domain")
	}
	plain := webtest.New(t, modelstest.Dialects()[0])
	fxUser(t, plain, "root", true)
	proxyApp(t, plain, "tools", true, nil, "*.tools.corp.test")
	if d := fxSignedIn(t, plain, "root").Get("/admin"); !strings.Contains(d.Body, "GATEHOUSE_COOKIE_DOMAIN is not set") {
		t.Fatalf("dashboard does not warn about proxy apps without a cookie domain")
	}
}

// TestForwardCheckMethods: nginx's auth_request repeats the original method (and the browser's
// Origin) unless told proxy_method GET; the check answers the same whatever its own method, and
// judges by X-Original-Method / X-Forwarded-Method.
func TestForwardCheckMethods(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "bob", false)
		proxyApp(t, app, "grafana", true, nil, "grafana.corp.test")
		bob := fxSignedIn(t, app, "bob")
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
			req, _ := http.NewRequest(m, "/auth/proxy/nginx", nil)
			req.Header.Set("X-Original-URL", "https://grafana.corp.test/api/dashboards")
			req.Header.Set("X-Original-Method", m)
			req.Header.Set("Origin", "https://grafana.corp.test")
			req.Header.Set("Sec-Fetch-Site", "same-site")
			r := bob.Do(fixURL(bob, req))
			if r.StatusCode != http.StatusOK || r.Header.Get("Remote-User") != "bob" {
				t.Errorf("%s check: %d %q", m, r.StatusCode, r.Header.Get("Remote-User"))
			}
			anon := app.Client()
			req2, _ := http.NewRequest(m, "/auth/proxy/nginx", nil)
			for _, k := range []string{"X-Original-URL", "X-Original-Method", "Origin", "Sec-Fetch-Site"} {
				req2.Header.Set(k, req.Header.Get(k)) // not the Cookie bob's jar added to req
			}
			if r := anon.Do(fixURL(anon, req2)); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s check, anonymous: %d", m, r.StatusCode)
			}
		}
	})
}

// TestForwardAutoLoginInWeCom: inside the WeCom client, with auto login on, a browser sent to sign in
// by forward-auth passes through WeCom without a click and lands on the app's URL.
func TestForwardAutoLoginInWeCom(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{AutoLogin: true})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
			proxyApp(t, w.app, "grafana", true, nil, "grafana.corp.test")
			c := w.app.Client()
			c.UserAgent = wecom.UserAgentIOS
			c.Header(wecomtest.MemberHeader, "alice")
			r := check(t, c, "forward", "GET", "http://grafana.corp.test/d/1")
			page := c.Get(r.Location())
			if page.StatusCode != http.StatusSeeOther || !strings.Contains(page.Location(), "/auth/wecom/corp/start?") {
				t.Fatalf("/signin?rd= in the WeCom client: %d %q, want straight on to WeCom", page.StatusCode, page.Location())
			}
			end := c.Get(w.toCallback(t, c, "alice", page.Location()))
			if end.StatusCode != http.StatusSeeOther || end.Location() != "http://grafana.corp.test/d/1" {
				t.Fatalf("callback: %d %q", end.StatusCode, end.Location())
			}
			// A desktop browser still sees the sign-in page.
			if r := w.app.Client().Get("/signin?rd=" + url.QueryEscape("http://grafana.corp.test/d/1")); r.StatusCode != http.StatusOK {
				t.Fatalf("desktop /signin?rd=: %d", r.StatusCode)
			}
		})
	}
}
