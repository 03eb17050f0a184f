package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/models"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// TestBrowserGroups: an administrator lists the groups, opens one, adds a department and a tag with
// the pickers (the lines land in the rules box once each; the filter narrows the lists), saves, sees
// the members, is told beside the field which line is wrong, and finds the groups on a user's page;
// the same pages in Chinese.
func TestBrowserGroups(t *testing.T) {
	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.New(t, "sqlite", webtest.WithWeCom(simSrv.URL))
	w := newGroupsWorld(t, app)
	// The user page asks WeCom about each binding: the corp knows Alice.
	if err := sim.AddCorp(wecomtest.Corp{ID: w.corp.Options.CorpID, Name: "Acme", Apps: []wecomtest.App{{AgentID: w.corp.Options.AgentID, Secret: "s", Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddMember(w.corp.Options.CorpID, wecomtest.Member{UserID: "alice", Name: "王小丽", Mobile: "13800000001"}); err != nil {
		t.Fatal(err)
	}
	alice := w.user(t, "alice", &w.corp, []int64{3, 2, 1}, nil, false)
	w.user(t, "bob", &w.branch, []int64{2, 1}, []int64{7}, false)
	w.user(t, "dave", &w.corp, []int64{4, 1}, []int64{7}, false)
	w.user(t, "erin", nil, nil, nil, false)
	id := w.create(t, "research", "研发中心", "dept:corp:2\nuser:erin")
	w.create(t, "everyone", "Everyone", "dept:corp:1\ndept:branch:1")
	w.create(t, "drivers", "Drivers", "tag:branch:7")

	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en"})
	signInWithPassword(t, tab, "root", fxPassword)

	tab.Navigate(t, "/admin/groups")
	wantText(t, tab, tid("groups"), "research")
	wantText(t, tab, "[data-testid=group-row][data-name=everyone] [data-testid=group-members]", "3")
	tab.Screenshot(t, "groups-list")

	tab.ClickAndWait(t, tid("group-research"))
	wantText(t, tab, tid("group-members"), "alice")
	wantText(t, tab, tid("picker-corp"), "总部 / 研发部 / 后端组")
	tab.Click(t, "[data-testid=picker-corp] button[data-rule='tag:corp:7']")
	tab.Click(t, "[data-testid=picker-corp] button[data-rule='tag:corp:7']") // a second click adds nothing
	tab.Click(t, "[data-testid=picker-branch] button[data-rule='dept:branch:2']")
	wantValue(t, tab, "#f-rules", "dept:corp:2\nuser:erin\ntag:corp:7\ndept:branch:2\n")
	// The department already in the rules is marked as added.
	if !browsertest.Eval[bool](t, tab, `document.querySelector("[data-testid=picker-corp] button[data-rule='dept:corp:2']").disabled`) {
		t.Error("dept:corp:2, already a rule, can still be added")
	}
	tab.Do(t, chromedp.SendKeys("input.group-filter", "wareh"))
	if n := tab.Count(t, ".picker-list li:not([hidden])"); n != 1 {
		t.Errorf("filter 'wareh' leaves %d entries, want 1", n)
	}
	browsertest.Eval[bool](t, tab, `(f => { f.value = ""; f.dispatchEvent(new Event("input")); return true })(document.querySelector("input.group-filter"))`)
	if n := tab.Count(t, ".picker-list li[hidden]"); n != 0 {
		t.Errorf("an empty filter hides %d entries", n)
	}
	tab.Screenshot(t, "group-edit-pickers")
	if status := tab.Submit(t, tid("group-form")); status != http.StatusOK {
		t.Fatalf("save: %d", status)
	}
	wantText(t, tab, tid("flash"), "research")
	for _, name := range []string{"alice", "bob", "dave", "erin"} {
		wantText(t, tab, tid("group-members"), name)
	}
	tab.Screenshot(t, "group-saved-members")

	tab.SetValue(t, "#f-rules", "dept:corp:2\n\ndept:corp:99\nuser:nobody\ntag:password:1\ndept:corp:2")
	if status := tab.Submit(t, tid("group-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("bad rules: %d, want 422", status)
	}
	wantText(t, tab, tid("error-rules"), "Line 3")
	wantText(t, tab, tid("error-rules"), "Line 6")
	tab.Screenshot(t, "group-errors")

	tab.Navigate(t, "/admin/users/"+itoa(alice.ID))
	wantText(t, tab, tid("user-groups"), "research")
	wantText(t, tab, tid("user-groups"), "everyone")
	tab.Screenshot(t, "user-groups")
	tab.ClickAndWait(t, "[data-testid=user-group][data-name=research] a")
	if got := tab.Path(t); got != "/admin/groups/"+itoa(id) {
		t.Errorf("the user's group links to %s", got)
	}

	ci := models.App{Name: "ci", Type: models.AppTypeProxy, Enabled: true, Access: models.AccessGroups, Groups: []string{"drivers", "ops"}, ClientID: "cid-ci"}
	if err := app.Store.CreateApp(context.Background(), &ci); err != nil {
		t.Fatal(err)
	}
	tab.Navigate(t, "/admin/groups")
	tab.ClickAndWait(t, tid("group-drivers"))
	wantText(t, tab, tid("group-apps"), "ci")
	tab.ClickAndWait(t, tid("group-delete"))
	wantText(t, tab, tid("group-delete-confirm"), "drivers")
	wantText(t, tab, tid("delete-apps"), "ci")
	tab.Screenshot(t, "group-delete-confirm")
	tab.ClickAndWait(t, tid("group-delete-submit"))
	wantText(t, tab, tid("flash"), "drivers")
	if n := tab.Count(t, "[data-testid=group-row]"); n != 2 {
		t.Errorf("%d groups listed after the delete, want 2", n)
	}

	zh := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "zh-CN,zh"})
	signInWithPassword(t, zh, "root", fxPassword)
	zh.Navigate(t, "/admin/groups")
	wantText(t, zh, "h1", "用户组")
	zh.Screenshot(t, "groups-list-zh")
	zh.Navigate(t, "/admin/groups/"+itoa(id))
	wantText(t, zh, tid("group-pickers"), "部门")
	zh.Screenshot(t, "group-edit-zh")
	zh.SetValue(t, "#f-rules", "dept:corp:99")
	if status := zh.Submit(t, tid("group-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("bad rules (zh): %d", status)
	}
	wantText(t, zh, tid("error-rules"), "第 1 行")
	zh.Navigate(t, "/admin/users/"+itoa(alice.ID))
	wantText(t, zh, tid("user-groups"), "用户组")
	zh.Screenshot(t, "user-groups-zh")

	phone := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Phone})
	signInWithPassword(t, phone, "root", fxPassword)
	phone.Navigate(t, "/admin/groups/"+itoa(id))
	wantNoSidewaysScroll(t, phone)
	phone.Screenshot(t, "group-edit-phone")

	if strings.Contains(app.Logs(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", app.Logs())
	}
}
