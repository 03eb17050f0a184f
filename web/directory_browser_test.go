package web_test

import (
	"context"
	"net/http"
	"testing"

	"gatehouse/web/browsertest"
)

// TestBrowserDirectoryFacts: an administrator sees on a user's page what WeCom said at the member's
// last sign-in (status, departments with their paths, tags, when), in English and Chinese; the member
// sees it on /m; a member who then left WeCom meets the member_left page (403) in both languages.
func TestBrowserDirectoryFacts(t *testing.T) {
	t.Parallel()
	w, alice := newDirectoryWorld(t, "sqlite")
	if err := w.sim.SetMemberDepartments(corpID, "alice", []int{deptPlatform, deptSales}); err != nil {
		t.Fatal(err)
	}
	c := w.app.Client()
	if r := w.signIn(t, c, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended %d %q", r.StatusCode, r.Outcome())
	}
	w.app.CreateUser("root", "correct-horse-battery", true, "")
	b := browsertest.New(t)
	for _, lang := range []string{"en", "zh-CN,zh"} {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: lang, Viewport: browsertest.Desktop})
		signInWithPassword(t, tab, "root", "correct-horse-battery")
		tab.Navigate(t, "/admin/users/"+itoa(alice.ID))
		wantText(t, tab, tid("directory-facts"), "Acme / Engineering / Platform")
		wantText(t, tab, tid("directory-facts"), "Acme / Sales")
		wantText(t, tab, tid("directory-tag"), "Leads")
		if lang == "en" {
			wantText(t, tab, tid("directory-status"), "Active")
		} else {
			wantText(t, tab, tid("directory-status"), "已激活")
		}
		browsertest.Eval[bool](t, tab, `document.querySelector("[data-testid=directory-facts]").scrollIntoView(), true`)
		tab.Screenshot(t, "user-directory-"+lang[:2])
	}
	for _, lang := range []string{"en", "zh-CN,zh"} {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), UserAgent: desktopBrowserUA, Language: lang, Viewport: browsertest.Desktop})
		if lang == "en" {
			// WeCom issues the code, then no longer finds the member (60111: left or deleted): the
			// refresh at sign-in cuts them off. The Chinese tab then meets the suspended binding.
			w.sim.FailNext("user/get", 1, 60111)
		}
		tab.Navigate(t, "/auth/wecom/corp/start")
		wantSimPage(t, tab, w, "login")
		if status := tab.ClickAndWait(t, "button[name=member][value=alice]"); status != http.StatusForbidden {
			t.Errorf("%s: member_left status %d, want 403", lang, status)
		}
		wantOutcome(t, tab, "member_left")
		if lang == "en" {
			wantText(t, tab, "main", "contact your administrator")
		} else {
			wantText(t, tab, "main", "请联系管理员")
		}
		tab.Screenshot(t, "member-left-"+lang[:2])
	}
	if u, _ := w.app.Store.UserByID(context.Background(), alice.ID); !u.Disabled {
		t.Error("the member who left can still sign in with something")
	}
}
