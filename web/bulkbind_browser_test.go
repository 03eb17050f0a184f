package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/models"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
)

// TestBrowserBulkBind uploads a spreadsheet's CSV, reads the dry run (in English, in Chinese and on a
// phone), applies it, and filters the users list by binding.
func TestBrowserBulkBind(t *testing.T) {
	app := webtest.New(t, "sqlite")
	app.CreateUser("root", "correct-horse-battery", true, "")
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", Title: "企业微信", CorpID: "wwcorp", AgentID: 1, Secret: "s"})
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		app.CreateUser(name, "", false, "")
	}
	carol, _ := app.Store.UserByUsername(context.Background(), "carol")
	if err := app.Store.CreateBinding(context.Background(), &models.Binding{UserID: carol.ID, AuthenticatorID: a.ID, Subject: "carol.wx"}); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(t.TempDir(), "成员.csv")
	data := "\xEF\xBB\xBFusername,wecom_userid\r\nalice,alice.wx\r\nbob,bob.wx\r\ncarol,carol.wx\r\nnobody,x.wx\r\ndave,carol.wx\r\nalice,again.wx\r\nerin,bad id\r\n"
	if err := os.WriteFile(csvPath, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	for _, v := range []struct {
		name, lang string
		viewport   browsertest.Viewport
	}{
		{"en", "en", browsertest.Desktop},
		{"zh", "zh-CN,zh", browsertest.Desktop},
		{"phone", "zh-CN,zh", browsertest.Phone},
	} {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: v.lang, Viewport: v.viewport})
		tab.Navigate(t, "/signin")
		tab.SetValue(t, "#f-username", "root")
		tab.SetValue(t, "#f-password", "correct-horse-battery")
		tab.Submit(t, tid("password-form"))
		tab.Navigate(t, "/admin/users")
		tab.ClickAndWait(t, tid("bulk-bind"))
		tab.Screenshot(t, v.name+"-bulkbind-form")
		tab.Do(t, chromedp.SetUploadFiles("#f-file", []string{csvPath}))
		if status := tab.Submit(t, tid("bulkbind-form")); status != http.StatusOK {
			t.Fatalf("%s: upload: status %d", v.name, status)
		}
		if n := tab.Count(t, tid("bulkbind-row")); n != 7 {
			t.Errorf("%s: %d preview rows, want 7", v.name, n)
		}
		tab.Screenshot(t, v.name+"-bulkbind-preview")
		if v.name != "phone" {
			continue
		}
		if status := tab.Submit(t, tid("bulkbind-apply-form")); status != http.StatusOK {
			t.Fatalf("apply: status %d", status)
		}
		wantText(t, tab, tid("count-bind"), "2")
		tab.Screenshot(t, v.name+"-bulkbind-applied")
		tab.Navigate(t, "/admin/users?bound=yes")
		if n := tab.Count(t, tid("user-row")); n != 3 {
			t.Errorf("bound users: %d rows, want 3", n)
		}
		tab.Screenshot(t, v.name+"-users-bound")
	}
}
