package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/web/peertest"
	"gatehouse/web/webtest"
)

// proxiedTool is oauth2-proxy (a real relying party, built from its own sources) in front of a tiny
// upstream, registered in Gatehouse as an OIDC app.
type proxiedTool struct {
	URL string // the proxy's base URL
	App models.App
}

// startOAuth2Proxy registers an app and runs oauth2-proxy against Gatehouse's issuer, with PKCE S256
// and nonce checking on, in front of an upstream page that shows the identity headers it receives.
func startOAuth2Proxy(t *testing.T, app *webtest.App, groups []string) proxiedTool {
	t.Helper()
	bin := peertest.OAuth2Proxy(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Upstream tool</title></head><body style="font-family:sans-serif;margin:3em">
<h1>Acme upstream tool</h1><p>Signed in through oauth2-proxy and Gatehouse.</p>
<dl><dt>X-Forwarded-User</dt><dd id="user">%s</dd><dt>X-Forwarded-Email</dt><dd id="email">%s</dd><dt>X-Forwarded-Preferred-Username</dt><dd id="username">%s</dd><dt>X-Forwarded-Groups</dt><dd id="groups">%s</dd></dl></body></html>`,
			html.EscapeString(r.Header.Get("X-Forwarded-User")), html.EscapeString(r.Header.Get("X-Forwarded-Email")),
			html.EscapeString(r.Header.Get("X-Forwarded-Preferred-Username")), html.EscapeString(r.Header.Get("X-Forwarded-Groups")))
	}))
	t.Cleanup(upstream.Close)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + addr
	secret := apps.NewClientSecret()
	m := models.App{Name: "tool-" + addr[strings.LastIndex(addr, ":")+1:], Title: "Upstream tool", Type: models.AppTypeOIDC, Enabled: true, Access: models.AccessEveryone,
		ClientID: apps.NewClientID(), SecretHash: apps.HashSecret(secret), RedirectURIs: []string{base + "/oauth2/callback"}}
	if groups != nil {
		m.Access, m.Groups = models.AccessGroups, groups
	}
	if err := app.Store.CreateApp(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out webtest.SyncBuffer
	cmd := exec.CommandContext(ctx, bin,
		"--provider=oidc", "--oidc-issuer-url="+app.URL()+"/oidc", "--client-id="+m.ClientID, "--client-secret="+secret,
		"--redirect-url="+base+"/oauth2/callback", "--upstream="+upstream.URL+"/", "--http-address="+addr,
		"--cookie-secret="+apps.NewClientID()[:16]+"0123456789abcdef", "--cookie-name=_oauth2_proxy_"+m.Name, "--cookie-secure=false", "--email-domain=*",
		"--skip-provider-button=true", "--code-challenge-method=S256", "--insecure-oidc-skip-nonce=false",
		"--scope=openid profile email groups", "--reverse-proxy=false")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not start: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return proxiedTool{URL: base, App: m}
}

// TestOIDCOAuth2ProxyPeer: oauth2-proxy, an independent relying party, signs a Gatehouse user in to
// the upstream behind it (its own approval_prompt parameter ignored, PKCE S256 and nonce checked by
// it), and a user the app's rule refuses gets Gatehouse's app_denied page, never the upstream.
func TestOIDCOAuth2ProxyPeer(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		u := app.CreateUser("zhangsan", "pw-zhangsan-1", false, "")
		u.Email = "zhangsan@acme.test"
		if err := app.Store.SaveUser(context.Background(), &u); err != nil {
			t.Fatal(err)
		}
		app.CreateUser("outsider", "pw-outsider-1", false, "")
		if err := app.Store.CreateGroup(context.Background(), &models.Group{Name: "staff", Rules: "user:zhangsan"}); err != nil {
			t.Fatal(err)
		}
		proxy := startOAuth2Proxy(t, app, []string{"staff"})

		c := app.Client()
		c.SignIn("zhangsan", "pw-zhangsan-1")
		r, hops := c.Follow(proxy.URL + "/")
		if r.StatusCode != http.StatusOK || r.Find("#email").Text() != "zhangsan@acme.test" || r.Find("#username").Text() != "zhangsan" {
			t.Fatalf("upstream through oauth2-proxy: %d %v %.400s", r.StatusCode, hops, r.Body)
		}
		if !strings.Contains(r.Find("#groups").Text(), "staff") {
			t.Errorf("groups header %q, want staff", r.Find("#groups").Text())
		}
		if !strings.Contains(strings.Join(hops, " "), "approval_prompt=") {
			t.Logf("note: oauth2-proxy sent no approval_prompt this time: %v", hops)
		}

		out := app.Client()
		out.SignIn("outsider", "pw-outsider-1")
		r, hops = out.Follow(proxy.URL + "/")
		if r.StatusCode != http.StatusForbidden || r.Outcome() != "app_denied" || strings.Contains(r.Body, "Acme upstream tool") {
			t.Fatalf("refused user: %d %q %v", r.StatusCode, r.Outcome(), hops)
		}
	})
}
