package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestDemoTool: in demo mode another app (the demo "internal tool", an OpenID Connect client built on
// go-oidc and x/oauth2) signs a newcomer in through Gatehouse and WeCom, shows the claims, and signs
// out through Gatehouse's end_session.
func TestDemoTool(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		c := app.Client()
		c.UserAgent = wecom.UserAgentIOS
		c.Header(wecomtest.MemberHeader, "zhangsan")
		r := c.Get("/_demo/tool")
		if r.StatusCode != http.StatusOK || r.Outcome() != "demo_tool_signed_out" || r.Find("[data-testid=demo-tool-signin]").Length() != 1 {
			t.Fatalf("tool page: %d %q", r.StatusCode, r.Outcome())
		}
		r, hops := c.Follow("/_demo/tool/login")
		if r.Outcome() != "demo_tool_signed_in" {
			t.Fatalf("not signed in to the tool: %d %q %v %.300s", r.StatusCode, r.Outcome(), hops, r.Body)
		}
		if got := r.Find(`[data-claim="preferred_username"]`).Text(); got != "zhangsan" {
			t.Errorf("preferred_username %q", got)
		}
		if got := r.Find(`[data-claim="email"]`).Text(); got != "zhangsan@demo.example" {
			t.Errorf("email %q", got)
		}
		logout, _ := r.Find("[data-testid=demo-tool-signout]").Attr("href")
		r, _ = c.Follow(logout)
		if r.Find("[data-testid=oidc-logout-confirm]").Length() != 1 {
			t.Fatalf("no sign-out confirmation: %d %.300s", r.StatusCode, r.Body)
		}
		ticket, _ := r.Find("input[name=t]").Attr("value")
		done := c.Post("/oidc/logout", url.Values{"t": {ticket}})
		if !strings.HasSuffix(done.Location(), "/_demo/tool/signedout") {
			t.Fatalf("logout went to %q", done.Location())
		}
		r, _ = c.Follow(done.Location())
		if r.Outcome() != "demo_tool_signed_out" {
			t.Errorf("still signed in to the tool: %q", r.Outcome())
		}
	}, webtest.WithDemo())
}
