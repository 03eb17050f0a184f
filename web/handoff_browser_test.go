package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"gatehouse/web/browsertest"
	"gatehouse/wecom"
)

// TestBrowserHandoff: a member's first WeCom sign-in from a desktop browser shows the hand-off QR
// code; the member opens its link with WeCom on a phone (a second browser with the WeCom
// User-Agent), allows sharing the mobile number, and the phone says to go back to the computer, where
// the page's polling has signed the desktop in by itself. In English (bob) and Chinese (erin).
func TestBrowserHandoff(t *testing.T) {
	t.Parallel()
	w := newWeComWorld(t, "sqlite", true)
	app := w.app
	b := browsertest.New(t)
	for _, tc := range []struct{ lang, member, name string }{{"en", "bob", "Bob Li"}, {"zh-CN,zh", "erin", "Erin Zhao"}} {
		short := tc.lang[:2]
		desk := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: desktopBrowserUA, Language: tc.lang, Viewport: browsertest.Desktop})
		desk.Navigate(t, "/auth/wecom/corp/start?redirect=/account")
		wantSimPage(t, desk, w, "login")
		if status := desk.ClickAndWait(t, "button[name=member][value="+tc.member+"]"); status != http.StatusForbidden {
			t.Errorf("first-sign-in page: status %d, want 403", status)
		}
		wantOutcome(t, desk, "first_signin_in_client")
		desk.WaitVisible(t, "svg"+tid("handoff-qr"))
		link := browsertest.Eval[string](t, desk, `document.querySelector("[data-testid=handoff-link]").href`)
		if !strings.HasPrefix(link, app.URL()+"/auth/wecom/corp/handoff/") {
			t.Fatalf("hand-off link %q", link)
		}
		if short == "zh" {
			if h := desk.Text(t, ".handoff h2"); !regexp.MustCompile(`\p{Han}`).MatchString(h) {
				t.Errorf("the Chinese hand-off box's heading is %q", h)
			}
		}
		desk.Screenshot(t, "desktop-qr-"+short)

		phone := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Language: tc.lang, Viewport: browsertest.Phone})
		phone.Navigate(t, link)
		wantSimPage(t, phone, w, "authorize")
		phone.Click(t, "input[name=member][value="+tc.member+"]")
		phone.ClickAndWait(t, "button[name=action][value=allow]")
		wantOutcome(t, phone, "handoff_done")
		if n := phone.Count(t, tid("current-user")); n != 0 {
			t.Error("the phone is signed in")
		}
		wantNoSidewaysScroll(t, phone)
		phone.Screenshot(t, "phone-done-"+short)

		// The desktop page polls every 2 s and continues by itself.
		desk.WaitVisible(t, tid("account"))
		wantSignedIn(t, desk, "/account", tc.name)
		desk.Screenshot(t, "desktop-signed-in-"+short)
	}
}
