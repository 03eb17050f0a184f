package web_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/models"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
)

// TestBrowserAuditLog: the audit log with filters, on a desktop in English and on a phone in Chinese.
func TestBrowserAuditLog(t *testing.T) {
	app := webtest.New(t, "sqlite")
	app.CreateUser("root", "correct-horse-battery", true, "")
	for _, e := range []models.Event{
		{Action: models.ActionSigninRefused, Target: "alice", IP: "192.0.2.10", Authenticator: "acme", Outcome: "not_bound"},
		{Action: models.ActionSigninRefused, Target: "bob", IP: "192.0.2.11", Authenticator: "acme", Outcome: "member_left"},
		{Action: models.ActionSigninOK, Target: "carol", IP: "192.0.2.12", Authenticator: "acme", Detail: map[string]any{"method": "wecom"}},
		{Action: models.ActionBindingCreate, Target: "zhangsan", Authenticator: "other"},
	} {
		if err := app.Store.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	b := browsertest.New(t)
	for _, v := range []struct {
		name, lang string
		viewport   browsertest.Viewport
	}{{"desktop-en", "en", browsertest.Viewport{}}, {"phone-zh", "zh-CN,zh", browsertest.Viewport{Width: 390, Height: 844}}} {
		t.Run(v.name, func(t *testing.T) {
			tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: v.lang, Viewport: v.viewport})
			tab.Navigate(t, "/signin")
			tab.SetValue(t, "#f-username", "root")
			tab.SetValue(t, "#f-password", "correct-horse-battery")
			if status := tab.Submit(t, tid("password-form")); status != http.StatusOK {
				t.Fatalf("sign in: status %d", status)
			}
			tab.Navigate(t, "/admin/audit")
			tab.SetValue(t, tid("audit-action"), "signin.")
			tab.SetValue(t, tid("audit-authenticator"), "acme")
			if status := tab.Submit(t, tid("audit-filter")); status != http.StatusOK {
				t.Fatalf("filter: status %d", status)
			}
			if n := tab.Count(t, tid("audit-row")); n != 3 {
				t.Fatalf("%d rows, want the 3 sign-in events of acme", n)
			}
			tab.Screenshot(t, "audit-filtered")
		})
	}
}

// TestBrowserVerifyFileCard: the authenticator page's domain verification card with a stored file, on a phone.
func TestBrowserVerifyFileCard(t *testing.T) {
	app := webtest.New(t, "sqlite")
	app.CreateUser("root", "correct-horse-battery", true, "")
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "acme", Title: "Acme", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
	if err := app.Store.SetVerifyFile(context.Background(), a.ID, &models.VerifyFile{Name: "WW_verify_AbCd1234.txt", Content: "AbCd1234efgh"}); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Viewport{Width: 390, Height: 844}})
	tab.Navigate(t, "/signin")
	tab.SetValue(t, "#f-username", "root")
	tab.SetValue(t, "#f-password", "correct-horse-battery")
	tab.Submit(t, tid("password-form"))
	tab.Navigate(t, "/admin/authenticators/"+strconv.FormatInt(a.ID, 10))
	tab.WaitVisible(t, tid("verify-file"))
	tab.Do(t, chromedp.ScrollIntoView(tid("verify-file")))
	tab.Screenshot(t, "verify-file")
}
