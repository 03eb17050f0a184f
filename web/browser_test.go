package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
)

var tid = browsertest.TestID

// TestBrowserAdmin walks through Gatehouse in Chromium as an administrator would: sign in, find a
// member, edit them (once well, once with a bad mobile), switch to Chinese, sign out.
func TestBrowserAdmin(t *testing.T) {
	app := webtest.New(t, "sqlite")
	app.CreateUser("root", "correct-horse-battery", true, "")
	alice := app.CreateUser("alice", "", false, "13800138000")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en"})
	aliceURL := "/admin/users/" + strconv.FormatInt(alice.ID, 10)

	// An anonymous visit to /admin lands on the sign-in page, which remembers where to go next.
	if status := tab.Navigate(t, "/admin"); status != http.StatusOK {
		t.Fatalf("/admin as a visitor: status %d", status)
	}
	if got := tab.Path(t); got != "/signin?redirect=%2Fadmin" {
		t.Fatalf("/admin as a visitor landed on %s, want the sign-in page", got)
	}
	wantText(t, tab, "h1", "Sign in")
	wantText(t, tab, tid("signin-submit"), "Sign in")
	tab.Screenshot(t, "signin")

	tab.SetValue(t, "#f-username", "root")
	tab.SetValue(t, "#f-password", "correct-horse-battery")
	if status := tab.Submit(t, tid("password-form")); status != http.StatusOK {
		t.Fatalf("sign in: status %d", status)
	}
	if got := tab.Path(t); got != "/admin" {
		t.Fatalf("after sign-in at %s, want /admin", got)
	}
	wantText(t, tab, tid("dashboard"), "Dashboard")
	wantText(t, tab, tid("current-user"), "Root")
	wantText(t, tab, tid("stat-users"), "2")
	tab.Screenshot(t, "dashboard")

	tab.ClickAndWait(t, tid("nav-users"))
	if got := tab.Path(t); got != "/admin/users" {
		t.Fatalf("Users link led to %s", got)
	}
	wantText(t, tab, "h1", "Users")
	wantText(t, tab, tid("users"), "alice")
	wantText(t, tab, tid("users"), "+8613800138000")
	tab.Screenshot(t, "users")

	// A good edit: saved, flashed, shown and stored.
	tab.ClickAndWait(t, tid("user-alice"))
	if got := tab.Path(t); got != aliceURL {
		t.Fatalf("alice's link led to %s, want %s", got, aliceURL)
	}
	wantText(t, tab, "h1", "alice")
	tab.SetValue(t, "#f-nickname", "Alice Liddell")
	tab.SetValue(t, "#f-mobile", "139 0013 9000")
	if status := tab.Submit(t, tid("user-form")); status != http.StatusOK {
		t.Fatalf("save alice: status %d", status)
	}
	if got := tab.Path(t); got != aliceURL {
		t.Fatalf("after saving at %s, want %s", got, aliceURL)
	}
	wantText(t, tab, tid("flash"), "User alice saved.")
	wantValue(t, tab, "#f-nickname", "Alice Liddell")
	wantValue(t, tab, "#f-mobile", "+8613900139000")
	wantStored(t, app, alice.ID, "Alice Liddell", "+8613900139000")
	tab.Screenshot(t, "user-saved")

	// A bad mobile: the error is beside the field, what was typed stays, nothing is stored.
	tab.SetValue(t, "#f-nickname", "Alice L.")
	tab.SetValue(t, "#f-mobile", "12345")
	if status := tab.Submit(t, tid("user-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("save a bad mobile: status %d, want 422", status)
	}
	wantText(t, tab, tid("error-mobile"), "Not a valid mobile number")
	if n := tab.Count(t, ".field:has(#f-mobile) "+tid("error-mobile")); n != 1 {
		t.Errorf("the mobile error is not in the mobile field (%d found there)", n)
	}
	if n := tab.Count(t, tid("flash")); n != 0 {
		t.Errorf("a failed save shows %d flash messages", n)
	}
	wantValue(t, tab, "#f-nickname", "Alice L.")
	wantValue(t, tab, "#f-mobile", "12345")
	wantStored(t, app, alice.ID, "Alice Liddell", "+8613900139000")
	tab.Screenshot(t, "user-bad-mobile")

	// The footer's language switch submits itself and the page comes back in Chinese.
	tab.Navigate(t, aliceURL)
	tab.SelectAndWait(t, tid("lang-select"), "zh")
	if got := tab.Path(t); got != aliceURL {
		t.Fatalf("after switching language at %s, want %s", got, aliceURL)
	}
	if lang := browsertest.Eval[string](t, tab, "document.documentElement.lang"); lang != "zh-CN" {
		t.Errorf("<html lang=%q>, want zh-CN", lang)
	}
	wantText(t, tab, tid("nav-users"), "用户")
	wantText(t, tab, tid("signout"), "退出登录")
	wantText(t, tab, "label[for=f-mobile]", "手机号")
	wantValue(t, tab, tid("lang-select"), "zh")
	tab.Screenshot(t, "user-zh")

	tab.ClickAndWait(t, tid("signout"))
	if got := tab.Path(t); got != "/signin" {
		t.Fatalf("after signing out at %s, want /signin", got)
	}
	wantText(t, tab, tid("flash"), "你已退出登录。")
	wantText(t, tab, "h1", "登录")
	tab.Screenshot(t, "signed-out-zh")

	// The session is gone, not just the page.
	tab.Navigate(t, "/admin")
	if got := tab.Path(t); got != "/signin?redirect=%2Fadmin" {
		t.Fatalf("/admin after signing out landed on %s", got)
	}
}

// TestBrowserSigninPhone shows the sign-in page on a phone-sized screen and signs in there.
func TestBrowserSigninPhone(t *testing.T) {
	app := webtest.New(t, "sqlite")
	app.CreateUser("root", "correct-horse-battery", true, "")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Phone})

	if status := tab.Navigate(t, "/signin"); status != http.StatusOK {
		t.Fatalf("/signin: status %d", status)
	}
	if w := browsertest.Eval[int](t, tab, "window.innerWidth"); w != 390 {
		t.Fatalf("phone viewport is %d px wide, want 390", w)
	}
	wantText(t, tab, "h1", "Sign in")
	tab.WaitVisible(t, "#f-username")
	tab.WaitVisible(t, tid("signin-submit"))
	wantNoSidewaysScroll(t, tab)
	if r := browsertest.Eval[float64](t, tab, `document.querySelector("[data-testid=signin-submit]").getBoundingClientRect().right`); r > 390 {
		t.Errorf("the sign-in button ends at %.0f px, past the 390 px screen", r)
	}
	tab.Screenshot(t, "signin-phone")

	tab.SetValue(t, "#f-username", "root")
	tab.SetValue(t, "#f-password", "correct-horse-battery")
	tab.Submit(t, tid("password-form"))
	wantText(t, tab, tid("dashboard"), "Dashboard")
	wantNoSidewaysScroll(t, tab)
	tab.Screenshot(t, "dashboard-phone")
}

// wantNoSidewaysScroll checks that the page fits the screen's width (wide tables may scroll inside
// their own box).
func wantNoSidewaysScroll(t *testing.T, tab *browsertest.Tab) {
	t.Helper()
	doc := browsertest.Eval[int](t, tab, "document.documentElement.scrollWidth")
	if screen := browsertest.Eval[int](t, tab, "window.innerWidth"); doc > screen {
		t.Errorf("%s is %d px wide on a %d px screen: it scrolls sideways", tab.Path(t), doc, screen)
	}
}

func wantText(t *testing.T, tab *browsertest.Tab, sel, want string) {
	t.Helper()
	if got := tab.Text(t, sel); !strings.Contains(got, want) {
		t.Errorf("%s shows %q, want %q in it", sel, got, want)
	}
}

func wantValue(t *testing.T, tab *browsertest.Tab, sel, want string) {
	t.Helper()
	if got := tab.Value(t, sel); got != want {
		t.Errorf("%s holds %q, want %q", sel, got, want)
	}
}

func wantStored(t *testing.T, app *webtest.App, id int64, nickname, mobile string) {
	t.Helper()
	u, err := app.Store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Nickname != nickname || u.MobileString() != mobile {
		t.Errorf("stored user %d: nickname %q mobile %q, want %q and %q", id, u.Nickname, u.MobileString(), nickname, mobile)
	}
}
