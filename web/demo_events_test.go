package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/directory"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestDemoLeaverFlow: in demo mode the simulator's directory page makes a signed-in member leave; the
// pushed unsubscribe ends their session at once (a WeCom-only user is disabled), and "come back"
// lets them sign in again.
func TestDemoLeaverFlow(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		lisi := app.Client()
		lisi.UserAgent = wecom.UserAgentIOS
		lisi.Header(wecomtest.MemberHeader, "lisi")
		if r, _ := lisi.Follow("/auth/wecom/wecom-demo/start?redirect=/account"); r.Find("[data-testid=account]").Length() != 1 {
			t.Fatalf("lisi did not sign in: %d %q", r.StatusCode, r.Outcome())
		}
		console := app.Client()
		page := console.Get("/_wecom/directory")
		if page.StatusCode != http.StatusOK || page.Find(`[data-testid="leave-lisi"]`).Length() != 1 {
			t.Fatalf("directory page = %d", page.StatusCode)
		}
		if r := console.Post("/_wecom/directory", url.Values{"corp": {wecomtest.DemoCorpID}, "userid": {"lisi"}, "action": {"leave"}}); r.StatusCode != http.StatusSeeOther || r.Location() != "directory" {
			t.Fatalf("leave = %d %s (Location %q)", r.StatusCode, r.Body, r.Location())
		}
		if r := lisi.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("after leaving lisi's /account = %d", r.StatusCode)
		}
		u, err := app.Store.UserByUsername(context.Background(), "lisi")
		must(t, err)
		if !u.Disabled || !u.DisabledByDirectory {
			t.Fatalf("lisi (WeCom only) not disabled by the directory: %+v", u)
		}
		if n := fxAudit(t, app, directory.ActionMemberLeft, "lisi"); n != 1 {
			t.Fatalf("member_left rows = %d", n)
		}
		page = console.Get("/_wecom/directory")
		if res := page.Find(`[data-testid="push-result"]`).First().Text(); !strings.HasPrefix(res, "HTTP 200") {
			t.Fatalf("push result shown = %q", res)
		}
		if r := console.Post("/_wecom/directory", url.Values{"corp": {wecomtest.DemoCorpID}, "userid": {"lisi"}, "action": {"back"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("back = %d", r.StatusCode)
		}
		u, err = app.Store.UserByUsername(context.Background(), "lisi")
		must(t, err)
		if u.Disabled {
			t.Fatal("lisi still disabled after coming back")
		}
		again := app.Client()
		again.UserAgent = wecom.UserAgentIOS
		again.Header(wecomtest.MemberHeader, "lisi")
		if r, _ := again.Follow("/auth/wecom/wecom-demo/start?redirect=/account"); r.Find("[data-testid=account]").Length() != 1 {
			t.Fatalf("lisi cannot sign in after coming back: %d %q", r.StatusCode, r.Outcome())
		}
	}, webtest.WithDemo())
}
