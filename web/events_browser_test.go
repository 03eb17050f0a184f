package web_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

// TestBrowserEventSettings: an administrator types the event Token and a bad EncodingAESKey, reads
// the error beside the field, fixes it, and sees the events URL with its copy button and "configured".
func TestBrowserEventSettings(t *testing.T) {
	w := newWorld(t, "sqlite", worldSpec{})
	w.app.CreateUser("root", "correct-horse-battery", true, "")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "en"})
	signInWithPassword(t, tab, "root", "correct-horse-battery")
	edit := "/admin/authenticators/" + strconv.FormatInt(w.a.ID, 10)
	tab.Navigate(t, edit)
	wantText(t, tab, tid("events-status"), "not configured")
	tab.SetValue(t, "#f-event_token", typedEventToken)
	tab.SetValue(t, "#f-event_aes_key", typedEventKey[:40])
	if status := tab.Submit(t, tid("wecom-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("bad key: status %d", status)
	}
	wantText(t, tab, tid("error-event_aes_key"), "43")
	wantValue(t, tab, "#f-event_aes_key", "")
	tab.Screenshot(t, "event-key-refused")
	tab.SetValue(t, "#f-event_token", typedEventToken)
	tab.SetValue(t, "#f-event_aes_key", typedEventKey)
	if status := tab.Submit(t, tid("wecom-form")); status != http.StatusOK {
		t.Fatalf("save: status %d", status)
	}
	wantText(t, tab, tid("events-status"), "Events are configured")
	wantValue(t, tab, tid("paste-events"), w.app.URL()+"/auth/wecom/corp/events")
	wantValue(t, tab, "#f-event_token", "")
	tab.WaitVisible(t, tid("paste-events"))
	tab.Screenshot(t, "event-settings")

	zh := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "zh-CN,zh"})
	signInWithPassword(t, zh, "root", "correct-horse-battery")
	zh.Navigate(t, edit)
	wantText(t, zh, tid("events-status"), "已配置事件接收")
	zh.Screenshot(t, "event-settings-zh")
}

// TestBrowserDemoLeaver: in demo mode lisi signs in; on the simulator's directory page a visitor makes
// lisi leave; lisi's next page load is the sign-in page.
func TestBrowserDemoLeaver(t *testing.T) {
	app := webtest.New(t, "sqlite", webtest.WithDemo())
	b := browsertest.New(t)
	member := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", UserAgent: wecom.UserAgentIOS})
	member.Navigate(t, "/auth/wecom/wecom-demo/start?redirect=/account")
	member.Click(t, "input[name=member][value=lisi]")
	member.ClickAndWait(t, "button[name=action][value=allow]")
	member.WaitVisible(t, tid("account"))
	member.Screenshot(t, "lisi-signed-in")

	console := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en"})
	console.Navigate(t, "/_wecom/directory")
	console.ClickAndWait(t, tid("leave-lisi"))
	wantText(t, console, tid("push-result"), "HTTP 200")
	console.Screenshot(t, "simulator-lisi-left")

	member.Navigate(t, "/account")
	// Signed out: inside the WeCom client auto login sends lisi to WeCom's consent sheet.
	if p := member.Path(t); p == "/account" {
		t.Fatal("lisi still sees her account page after leaving")
	}
	member.Screenshot(t, "lisi-session-ended")
	u, err := app.Store.UserByUsername(context.Background(), "lisi")
	must(t, err)
	if !u.Disabled {
		t.Fatal("lisi not disabled")
	}
}
