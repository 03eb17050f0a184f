package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
)

// TestBrowserOIDCOAuth2Proxy: a person opens a tool behind oauth2-proxy, lands on Gatehouse's sign-in
// page, signs in with a password and is back on the tool, which shows who they are; an app the rule
// refuses shows the app_denied page.
func TestBrowserOIDCOAuth2Proxy(t *testing.T) {
	app := webtest.New(t, "sqlite")
	u := app.CreateUser("zhangsan", "pw-zhangsan-1", false, "")
	u.Nickname, u.Email = "张三", "zhangsan@acme.test"
	if err := app.Store.SaveUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	proxy := startOAuth2Proxy(t, app, nil)
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{Language: "en"})
	tab.Navigate(t, proxy.URL+"/")
	if !strings.HasPrefix(tab.URL(t), app.URL()+"/signin") {
		t.Fatalf("not on Gatehouse's sign-in page: %s", tab.URL(t))
	}
	tab.Screenshot(t, "gatehouse-signin-for-the-tool")
	tab.SetValue(t, "#f-username", "zhangsan")
	tab.SetValue(t, "#f-password", "pw-zhangsan-1")
	if status := tab.Submit(t, browsertest.TestID("password-form")); status != http.StatusOK {
		t.Fatalf("sign in: status %d at %s", status, tab.URL(t))
	}
	if !strings.HasPrefix(tab.URL(t), proxy.URL) {
		t.Fatalf("not back on the tool: %s", tab.URL(t))
	}
	if got := tab.Text(t, "#email"); got != "zhangsan@acme.test" {
		t.Fatalf("the tool saw %q", got)
	}
	tab.Screenshot(t, "upstream-tool-signed-in")

	// A second tool open only to a group the person is not in.
	denied := startOAuth2Proxy(t, app, []string{"ops"})
	if err := app.Store.CreateGroup(context.Background(), &models.Group{Name: "ops", Rules: "user:nobody"}); err != nil {
		t.Fatal(err)
	}
	if status := tab.Navigate(t, denied.URL+"/"); status != http.StatusForbidden {
		t.Fatalf("refused tool: status %d at %s", status, tab.URL(t))
	}
	tab.WaitVisible(t, `[data-outcome="app_denied"]`)
	tab.Screenshot(t, "app-denied")
}
