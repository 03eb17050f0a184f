package web_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// TestBrowserRealProxies signs in through Debian's nginx and Caddy (running the admin page's snippets
// for the app, see proxyConfig) as a person would, in Chromium:
// Gatehouse on localhost:P, the protected app behind the proxy on localhost:Q (ports do not separate
// cookies, so no cookie domain is needed and Chromium needs no resolver rules). Anonymous → sign-in
// page → WeCom (simulator: pick alice) → back on the original URL, where the upstream shows alice's
// identity headers; after signing out at Gatehouse the app sends the browser to sign in again.
func TestBrowserRealProxies(t *testing.T) {
	for _, p := range realProxies {
		t.Run(p.name, func(t *testing.T) {
			findProxy(t, p)
			sim, simSrv := wecomtest.NewServer(t)
			app := webtest.New(t, "sqlite", webtest.WithWeCom(simSrv.URL), func(c *web.Config, _ *web.Options) {
				_, port, _ := net.SplitHostPort(c.Addr)
				c.BaseURL = &url.URL{Scheme: "http", Host: "localhost:" + port}
			})
			base := app.Config.BaseURL.String()
			must(t, sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: []string{app.Config.BaseURL.Host}, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}))
			must(t, sim.AddMember(corpID, wecomtest.Member{UserID: "alice", Name: "Alice Wang", Mobile: "13800000001", Email: "alice@acme.test"}))
			a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, Origin: base})
			alice := app.CreateUser("alice", "", false, "13800000001")
			alice.Nickname, alice.Email = "Alice Wang", "alice@acme.test"
			must(t, app.Store.SaveUser(context.Background(), &alice))
			(&wecomWorld{app: app, sim: sim, a: a}).bind(t, a, alice, "alice")
			demo := proxyApp(t, app, "demo", true, nil, "localhost")

			up := echoUpstream(t)
			port := startProxy(t, p, base, strings.TrimPrefix(app.URL(), "http://"), strings.TrimPrefix(up.URL, "http://"), demo)
			target := fmt.Sprintf("http://localhost:%d/reports/7?week=48", port)

			b := browsertest.New(t)
			tab := b.NewTab(t, browsertest.TabOptions{Language: "en", Viewport: browsertest.Desktop, UserAgent: desktopBrowserUA})
			tab.Navigate(t, target)
			if u := tab.URL(t); !strings.HasPrefix(u, base+"/signin?rd=") {
				t.Fatalf("anonymous visit ended on %s, want Gatehouse's sign-in page", u)
			}
			tab.Screenshot(t, p.name+"-signin")
			tab.ClickAndWait(t, tid("wecom-button-corp"))
			tab.WaitVisible(t, "[data-sim-page=login]")
			tab.ClickAndWait(t, "button[name=member][value=alice]")
			if u := tab.URL(t); u != target {
				t.Fatalf("after the WeCom sign-in the browser is on %s, want %s", u, target)
			}
			body := tab.Text(t, "body")
			for _, want := range []string{`"Remote-User":["alice"]`, `"Remote-Name":["Alice%20Wang"]`, `"Remote-Email":["alice@acme.test"]`} {
				if !strings.Contains(body, want) {
					t.Fatalf("the upstream did not see %s: %.600s", want, body)
				}
			}
			tab.Screenshot(t, p.name+"-app")

			// The app now admits only the group ops, which alice is not in: refused through the proxy
			// (Caddy shows Gatehouse's app_denied page, styled from Gatehouse's origin; nginx its own 403).
			demo.Access, demo.Groups = models.AccessGroups, []string{"ops"}
			must(t, app.Store.SaveApp(context.Background(), &demo))
			time.Sleep(apps.CacheTTL + 100*time.Millisecond)
			tab.Navigate(t, target)
			if p.name == "caddy" {
				if got := browsertest.Eval[string](t, tab, `(document.querySelector("[data-outcome]")||{dataset:{}}).dataset.outcome||""`); got != "app_denied" {
					t.Fatalf("denied app shows outcome %q, want app_denied", got)
				}
				if !browsertest.Eval[bool](t, tab, `getComputedStyle(document.body).fontFamily !== "" && [...document.styleSheets].some(s => s.href && s.href.startsWith(`+fmt.Sprintf("%q", base)+`))`) {
					t.Errorf("the app_denied page has no style sheet from Gatehouse's origin")
				}
				tab.Screenshot(t, p.name+"-app-denied")
			} else if strings.Contains(tab.Text(t, "body"), "Remote-User") {
				t.Fatalf("denied app reached the upstream")
			}

			tab.Navigate(t, base+"/account")
			tab.ClickAndWait(t, tid("signout"))
			tab.Navigate(t, target)
			if u := tab.URL(t); !strings.HasPrefix(u, base+"/signin?rd=") {
				t.Fatalf("after signing out, the app is on %s, want the sign-in page", u)
			}
		})
	}
}
