package web_test

import (
	"net/http"
	"testing"

	"gatehouse/web/browsertest"
)

// TestBrowserUserBindings: an administrator sees a user's WeCom bindings with what WeCom says of each
// member, is refused a member outside the visible range beside the field, binds another by userid,
// and reads the page in Chinese and on a phone; a member sees their bindings on /m.
func TestBrowserUserBindings(t *testing.T) {
	w := newWorld(t, "sqlite", worldSpec{})
	w.app.CreateUser("root", "correct-horse-battery", true, "")
	alice := w.app.CreateUser("alice", "alice-password-1", false, "")
	w.bind(t, w.a, alice, "alice")
	bob := w.app.CreateUser("bob", "", false, "")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "en"})
	signInWithPassword(t, tab, "root", "correct-horse-battery")

	tab.Navigate(t, "/admin/users/"+itoa(alice.ID))
	wantText(t, tab, tid("bindings"), "Alice Wang")
	wantText(t, tab, tid("bindings"), "Active")
	wantText(t, tab, tid("bindings"), corpID)
	tab.WaitVisible(t, tid("bind-form"))
	tab.Screenshot(t, "user-with-binding")

	bobURL := "/admin/users/" + itoa(bob.ID)
	tab.Navigate(t, bobURL)
	tab.SetValue(t, "#f-userid", "carol")
	if status := tab.Submit(t, tid("bind-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("bind carol: status %d, want 422", status)
	}
	wantText(t, tab, tid("error-userid"), "visible range")
	wantValue(t, tab, "#f-userid", "carol")
	tab.Screenshot(t, "bind-refused")

	tab.SetValue(t, "#f-userid", "bob")
	if status := tab.Submit(t, tid("bind-form")); status != http.StatusOK {
		t.Fatalf("bind bob: status %d", status)
	}
	if got := tab.Path(t); got != bobURL {
		t.Fatalf("after binding at %s, want %s", got, bobURL)
	}
	wantText(t, tab, tid("flash"), "Bob Li")
	wantText(t, tab, tid("bindings"), "bob")

	// Unbinding asks on a page of its own first.
	tab.ClickAndWait(t, tid("unbind"))
	wantText(t, tab, tid("unbind-confirm"), "bob")
	tab.Screenshot(t, "unbind-confirm")
	tab.ClickAndWait(t, tid("unbind-confirm-submit"))
	wantText(t, tab, tid("flash"), "unbound")

	zh := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "zh-CN,zh"})
	signInWithPassword(t, zh, "root", "correct-horse-battery")
	zh.Navigate(t, "/admin/users/"+itoa(alice.ID))
	wantText(t, zh, tid("bindings"), "已激活")
	wantText(t, zh, tid("bind"), "绑定企业微信成员")
	zh.Screenshot(t, "user-zh")

	phone := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "en", Viewport: browsertest.Phone})
	signInWithPassword(t, phone, "root", "correct-horse-battery")
	phone.Navigate(t, "/admin/users/"+itoa(alice.ID))
	phone.WaitVisible(t, tid("bind-form"))
	wantNoSidewaysScroll(t, phone)
	wantInsideScreen(t, phone, tid("bind-submit"))
	phone.Screenshot(t, "user-phone")

	member := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "en", Viewport: browsertest.Phone})
	signInWithPassword(t, member, "alice", "alice-password-1")
	member.Navigate(t, "/m")
	wantText(t, member, tid("binding-row"), "alice")
	wantNoSidewaysScroll(t, member)
	wantInsideScreen(t, member, tid("unbind"))
	member.Screenshot(t, "account-phone")
}
