package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// groupsWorld is a Gatehouse with two WeCom authenticators whose corps both have a department 2,
// what WeCom said about a few members, an admin and a member who is not one.
type groupsWorld struct {
	app          *webtest.App
	corp, branch models.Authenticator
	admin        *webtest.Client
	users        map[string]models.User
}

// forEachGroups runs fn on each database, the app's WeCom API pointed at a simulator that knows
// none of the test's corps: the user page asks WeCom about each binding and must never reach out.
func forEachGroups(t *testing.T, fn func(t *testing.T, app *webtest.App)) {
	_, sim := wecomtest.NewServer(t)
	webtest.ForEach(t, fn, webtest.WithWeCom(sim.URL))
}

func newGroupsWorld(t *testing.T, app *webtest.App) *groupsWorld {
	t.Helper()
	ctx := context.Background()
	w := &groupsWorld{app: app, users: map[string]models.User{}}
	w.corp = app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", Title: "Acme", CorpID: "wwacme0123456789ab", AgentID: 1000002, Secret: "s"})
	w.branch = app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "branch", Title: "Acme Branch", CorpID: "wwbranch0123456789", AgentID: 1000003, Secret: "s"})
	for _, d := range []models.DirectoryDepartment{
		{AuthenticatorID: w.corp.ID, DeptID: 1, Name: "总部"},
		{AuthenticatorID: w.corp.ID, DeptID: 2, ParentID: 1, Name: "研发部"},
		{AuthenticatorID: w.corp.ID, DeptID: 3, ParentID: 2, Name: "后端组"},
		{AuthenticatorID: w.corp.ID, DeptID: 4, ParentID: 1, Name: "销售部"},
		{AuthenticatorID: w.branch.ID, DeptID: 1, Name: "Branch office"},
		{AuthenticatorID: w.branch.ID, DeptID: 2, ParentID: 1, Name: "Warehouse"},
	} {
		if err := app.Store.UpsertDirectoryDepartment(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range []models.DirectoryTag{{AuthenticatorID: w.corp.ID, TagID: 7, Name: "值班"}, {AuthenticatorID: w.branch.ID, TagID: 7, Name: "Drivers"}} {
		if err := app.Store.UpsertDirectoryTag(ctx, &tg); err != nil {
			t.Fatal(err)
		}
	}
	fxUser(t, app, "root", true)
	fxUser(t, app, "member", false)
	w.admin = fxSignedIn(t, app, "root")
	return w
}

// user creates a user and records what WeCom said about them at a (nil: no WeCom).
func (w *groupsWorld) user(t *testing.T, name string, a *models.Authenticator, ancestry, tags []int64, suspended bool) models.User {
	t.Helper()
	u := models.User{Username: name, Nickname: strings.ToUpper(name[:1]) + name[1:]}
	if err := w.app.Store.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	w.users[name] = u
	if a != nil {
		w.member(t, u, *a, ancestry, tags, suspended)
	}
	return u
}

func (w *groupsWorld) member(t *testing.T, u models.User, a models.Authenticator, ancestry, tags []int64, suspended bool) {
	t.Helper()
	b := models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: u.Username, CorpID: a.Options.CorpID, CreatedAt: time.Now().UTC()}
	if err := w.app.Store.CreateBinding(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	m := models.DirectoryMember{BindingID: b.ID, AuthenticatorID: a.ID, UserID: u.ID, Status: models.MemberActive,
		Departments: ancestry[:1], Ancestry: ancestry, Tags: tags, RefreshedAt: time.Now().UTC()}
	if suspended {
		now := time.Now().UTC()
		m.Status, m.SuspendedAt = models.MemberLeft, &now
	}
	if err := w.app.Store.SaveDirectoryMember(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
}

// create posts the new-group form and returns the new group's id.
func (w *groupsWorld) create(t *testing.T, name, title, rules string) int64 {
	t.Helper()
	r := w.admin.Post("/admin/groups", fxForm("name", name, "title", title, "rules", rules))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/admin/groups/") {
		t.Fatalf("create %s: %d %q %s", name, r.StatusCode, r.Location(), r.Find("[data-testid=error-rules]").Text())
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(r.Location(), "/admin/groups/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func texts(r *webtest.Response, sel string) []string {
	var out []string
	r.Find(sel).Each(func(_ int, s *goquery.Selection) { out = append(out, strings.TrimSpace(s.Text())) })
	return out
}

// TestGroupsAdmin: an admin creates a group (303 to its page), sees it listed with its numbers of
// rules and members, its page lists the members as links to their user pages (sub-departments,
// tags and named users; not suspended members; not the other corp's department 2), offers the known
// departments with their paths and the tags, saves a change; each step is audited and the audit log
// filters by action; the user page lists the user's groups.
func TestGroupsAdmin(t *testing.T) {
	forEachGroups(t, func(t *testing.T, app *webtest.App) {
		w := newGroupsWorld(t, app)
		alice := w.user(t, "alice", &w.corp, []int64{3, 2, 1}, nil, false)
		w.user(t, "bob", &w.branch, []int64{2, 1}, nil, false)       // the other corp's department 2
		w.user(t, "carol", &w.corp, []int64{2, 1}, nil, true)        // left
		w.user(t, "dave", &w.corp, []int64{4, 1}, []int64{7}, false) // sales, on call
		w.user(t, "erin", nil, nil, nil, false)

		r := w.admin.Get("/admin/groups")
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=no-groups]").Length() != 1 || r.Find("[data-testid=nav-groups]").Length() != 1 {
			t.Fatalf("empty list: %d", r.StatusCode)
		}
		if r := w.admin.Get("/admin/groups/new"); r.StatusCode != http.StatusOK || r.Find("[data-testid=group-form]").Length() != 1 {
			t.Fatalf("new form: %d", r.StatusCode)
		}
		id := w.create(t, "research", "R&D", "dept:corp:2\ntag:corp:7\nuser:erin\n")
		if fxAudit(t, app, models.ActionGroupCreate, "research") != 1 {
			t.Error("group.create not audited")
		}

		r = w.admin.Get("/admin/groups")
		row := r.Find("[data-testid=group-row][data-name=research]")
		if row.Length() != 1 || row.Find("[data-testid=group-rules]").Text() != "3" || row.Find("[data-testid=group-members]").Text() != "3" {
			t.Fatalf("listed: %q", strings.Join(strings.Fields(row.Text()), " "))
		}

		page := w.admin.Get("/admin/groups/" + itoa(id))
		if page.StatusCode != http.StatusOK {
			t.Fatalf("group page: %d", page.StatusCode)
		}
		if got := texts(page, "[data-testid=member-row] a"); !slices.Equal(got, []string{"alice", "dave", "erin"}) {
			t.Errorf("members %v, want alice, dave, erin", got)
		}
		if href, _ := page.Find("[data-testid=member-alice]").Attr("href"); href != "/admin/users/"+itoa(alice.ID) {
			t.Errorf("alice links to %q", href)
		}
		if got := page.Find("#f-rules").Text(); got != "dept:corp:2\ntag:corp:7\nuser:erin\n" {
			t.Errorf("rules shown %q", got)
		}
		pick := page.Find("[data-testid=picker-corp] [data-testid=picker-entry][data-rule='dept:corp:3']")
		if !strings.Contains(pick.Text(), "总部 / 研发部 / 后端组") {
			t.Errorf("picker of corp's department 3: %q", pick.Text())
		}
		if !strings.Contains(page.Find("[data-testid=picker-branch] [data-rule='tag:branch:7']").Text(), "Drivers") {
			t.Error("branch's tag 7 not offered")
		}
		if n := page.Find("script[src^='/static/js/groups.js']").Length(); n != 1 {
			t.Errorf("groups.js loaded %d times", n)
		}

		r = w.admin.Post("/admin/groups/"+itoa(id), fxForm("name", "research", "title", "Research", "rules", "dept:corp:2"))
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/groups/"+itoa(id) {
			t.Fatalf("save: %d %q", r.StatusCode, r.Location())
		}
		if fxAudit(t, app, models.ActionGroupUpdate, "research") != 1 {
			t.Error("group.update not audited")
		}
		page = w.admin.Get("/admin/groups/" + itoa(id))
		if got := texts(page, "[data-testid=member-row] a"); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("members after save %v", got)
		}

		// The user page lists the user's groups as links.
		w.create(t, "everyone", "Everyone", "dept:corp:1\ndept:branch:1")
		up := w.admin.Get("/admin/users/" + itoa(alice.ID))
		if got := texts(up, "[data-testid=user-group] a"); !slices.Equal(got, []string{"everyone", "research"}) {
			t.Errorf("alice's groups %v", got)
		}
		if href, _ := up.Find("[data-testid=user-group][data-name=research] a").Attr("href"); href != "/admin/groups/"+itoa(id) {
			t.Errorf("research links to %q", href)
		}
		if got := texts(w.admin.Get("/admin/users/"+itoa(w.users["erin"].ID)), "[data-testid=user-group]"); len(got) != 0 {
			t.Errorf("erin's groups %v", got)
		}

		// The audit log filters by action, exactly and by prefix.
		a := w.admin.Get("/admin/audit?action=" + url.QueryEscape("group.create"))
		if got := texts(a, "[data-testid=audit-row] .badge"); !slices.Equal(got, []string{"group.create", "group.create"}) {
			t.Errorf("?action=group.create lists %v", got)
		}
		a = w.admin.Get("/admin/audit?action=group.")
		if got := texts(a, "[data-testid=audit-row] .badge"); len(got) != 3 || slices.Contains(got, "signin.ok") {
			t.Errorf("?action=group. lists %v", got)
		}
	})
}

// TestGroupsMembersPaged: a group with more members than a page lists them in pages of 50, by username.
func TestGroupsMembersPaged(t *testing.T) {
	forEachGroups(t, func(t *testing.T, app *webtest.App) {
		w := newGroupsWorld(t, app)
		for i := range 120 {
			w.user(t, fmt.Sprintf("u%03d", i), &w.corp, []int64{3, 2, 1}, nil, i%10 == 9) // every tenth has left
		}
		id := w.create(t, "backend", "Backend", "dept:corp:3")
		var all []string
		for p := 1; p <= 3; p++ {
			r := w.admin.Get(fmt.Sprintf("/admin/groups/%d?page=%d", id, p))
			if got := r.Find("[data-testid=members-total]").Text(); got != "108" {
				t.Fatalf("page %d: total %q, want 108", p, got)
			}
			all = append(all, texts(r, "[data-testid=member-row] a")...)
			if p < 3 && r.Find("a[rel=next]").Length() != 1 {
				t.Errorf("page %d has no next link", p)
			}
		}
		if len(all) != 108 || !slices.IsSorted(all) || slices.Contains(all, "u009") || all[0] != "u000" {
			t.Errorf("listed %d members, first %v", len(all), all[:min(3, len(all))])
		}
	})
}

// TestGroupsValidation: every problem of the form is told beside its field, translated, with the
// line number for rules, answered 422 with the input kept, and nothing is saved.
func TestGroupsValidation(t *testing.T) {
	forEachGroups(t, func(t *testing.T, app *webtest.App) {
		w := newGroupsWorld(t, app)
		w.user(t, "alice", nil, nil, nil, false)
		existing := w.create(t, "taken", "Taken", "")
		for _, tc := range []struct {
			name, title, rules string
			lang               string
			field, want        string
		}{
			{"", "T", "", "en", "name", "Required"},
			{"Bad Name", "T", "", "en", "name", "lower-case letters"},
			{"-x", "T", "", "en", "name", "lower-case letters"},
			{strings.Repeat("a", 65), "T", "", "en", "name", "at most 64"},
			{"taken", "T", "", "en", "name", "Another group"},
			{"ok", "", "", "en", "title", "Required"},
			{"ok", strings.Repeat("t", 129), "", "en", "title", "Too long"},
			{"ok", "T", "user:alice\nnonsense", "en", "rules", "Line 2: “nonsense” is not a rule"},
			{"ok", "T", "dept:corp", "en", "rules", "Line 1:"},
			{"ok", "T", "\n\ndept:nowhere:1", "en", "rules", "Line 3: there is no authenticator"},
			{"ok", "T", "tag:password:1", "en", "rules", "not a WeCom one"},
			{"ok", "T", "dept:corp:99", "en", "rules", "no department with this id"},
			{"ok", "T", "dept:branch:3", "en", "rules", "no department with this id"}, // corp's 3, not branch's
			{"ok", "T", "tag:corp:8", "en", "rules", "no tag with this id"},
			{"ok", "T", "user:nobody", "en", "rules", "no user with the username"},
			{"ok", "T", "user:alice\ndept:corp:2\nuser:ALICE", "en", "rules", "Line 3: “user:ALICE” repeats line 1"},
			{"ok", "T", "dept:corp:99", "zh", "rules", "第 1 行"},
			{"Bad", "T", "", "zh", "name", "小写字母"},
			{"ok", "T", manyRules(501), "en", "rules", "at most 500 rules"},
		} {
			t.Run(tc.field+" "+tc.want, func(t *testing.T) {
				before := fxSnapshot(t, app) + groupsSnapshot(t, app)
				c := w.admin
				c.Language = tc.lang
				defer func() { c.Language = "en" }()
				for _, path := range []string{"/admin/groups", "/admin/groups/" + itoa(existing)} {
					name := tc.name
					if name == "taken" && path != "/admin/groups" {
						continue // the group's own name is not taken for itself
					}
					r := c.Post(path, fxForm("name", name, "title", tc.title, "rules", tc.rules))
					if r.StatusCode != http.StatusUnprocessableEntity {
						t.Fatalf("%s: %d, want 422", path, r.StatusCode)
					}
					if got := r.Find("[data-testid=error-" + tc.field + "]").Text(); !strings.Contains(got, tc.want) {
						t.Errorf("%s: error beside %s = %q, want %q", path, tc.field, got, tc.want)
					}
					if v, _ := r.Find("#f-name").Attr("value"); v != name {
						t.Errorf("%s: name not kept: %q", path, v)
					}
					if got := r.Find("#f-rules").Text(); got != tc.rules {
						t.Errorf("%s: rules not kept: %q", path, got)
					}
				}
				if after := fxSnapshot(t, app) + groupsSnapshot(t, app); after != before {
					t.Error("a refused form changed the database")
				}
			})
		}
		// A shared id of two corps is accepted for each that has it.
		w.create(t, "both", "Both", "dept:corp:2\ndept:branch:2\ntag:corp:7\ntag:branch:7")
	})
}

func manyRules(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "user:alice-%d\n", i)
	}
	return b.String()
}

func groupsSnapshot(t *testing.T, app *webtest.App) string {
	t.Helper()
	var groups []models.Group
	var apps []models.App
	if err := app.Store.DB().Order("id").Find(&groups).Error; err != nil {
		t.Fatal(err)
	}
	if err := app.Store.DB().Order("id").Find(&apps).Error; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%d %s %s %q %s\n", g.ID, g.Name, g.Title, g.Rules, g.UpdatedAt)
	}
	for _, a := range apps {
		fmt.Fprintf(&b, "%d %s %v\n", a.ID, a.Name, a.Groups)
	}
	return b.String()
}

// TestGroupsRenameAndDeleteWithApps: renaming a group renames it in the applications that name it;
// deleting asks first, listing those applications, then removes the group and its name from them.
func TestGroupsRenameAndDeleteWithApps(t *testing.T) {
	forEachGroups(t, func(t *testing.T, app *webtest.App) {
		ctx := context.Background()
		w := newGroupsWorld(t, app)
		id := w.create(t, "research", "R&D", "dept:corp:2")
		for _, a := range []models.App{
			{Name: "wiki", Groups: []string{"ops", "research"}},
			{Name: "ci", Groups: []string{"research"}},
			{Name: "crm", Groups: []string{"research-old"}},
		} {
			a.Type, a.Enabled, a.Access, a.ClientID = models.AppTypeProxy, true, models.AccessGroups, "cid-"+a.Name
			if err := app.Store.CreateApp(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}
		page := w.admin.Get("/admin/groups/" + itoa(id))
		if got := texts(page, "[data-testid=group-apps] li"); !slices.Equal(got, []string{"ci", "wiki"}) {
			t.Errorf("apps naming the group: %v", got)
		}
		r := w.admin.Post("/admin/groups/"+itoa(id), fxForm("name", "rnd", "title", "R&D", "rules", "dept:corp:2"))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("rename: %d", r.StatusCode)
		}
		if got := w.admin.Get(r.Location()).Find("[data-testid=flash]").Text(); !strings.Contains(got, "ci, wiki") {
			t.Errorf("rename flash %q", got)
		}
		if got := appGroups(t, app); got != "ci:[rnd] crm:[research-old] wiki:[ops rnd]" {
			t.Errorf("after rename: %s", got)
		}
		var ev models.AuditEvent
		if err := app.Store.DB().Where("action = ?", models.ActionGroupUpdate).First(&ev).Error; err != nil || !strings.Contains(ev.Detail, `"renamed_from":"research"`) {
			t.Errorf("rename audit %q %v", ev.Detail, err)
		}

		// Delete: first the confirmation, which changes nothing.
		before := groupsSnapshot(t, app)
		r = w.admin.Post("/admin/groups/"+itoa(id)+"/delete", nil)
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=group-delete-confirm]").Length() != 1 {
			t.Fatalf("delete confirmation: %d", r.StatusCode)
		}
		if got := texts(r, "[data-testid=delete-apps] li"); !slices.Equal(got, []string{"ci", "wiki"}) {
			t.Errorf("confirmation lists %v", got)
		}
		if groupsSnapshot(t, app) != before {
			t.Fatal("the confirmation page changed something")
		}
		r = w.admin.Post("/admin/groups/"+itoa(id)+"/delete", fxForm("confirm", "yes"))
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/groups" {
			t.Fatalf("delete: %d %q", r.StatusCode, r.Location())
		}
		if got := appGroups(t, app); got != "ci:[] crm:[research-old] wiki:[ops]" {
			t.Errorf("after delete: %s", got)
		}
		if fxAudit(t, app, models.ActionGroupDelete, "rnd") != 1 {
			t.Error("group.delete not audited")
		}
		for _, path := range []string{"/admin/groups/" + itoa(id), "/admin/groups/999999", "/admin/groups/x"} {
			if r := w.admin.Get(path); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, r.StatusCode)
			}
		}
		if r := w.admin.Post("/admin/groups/"+itoa(id)+"/delete", fxForm("confirm", "yes")); r.StatusCode != http.StatusNotFound {
			t.Errorf("delete again: %d, want 404", r.StatusCode)
		}
		if r := w.admin.Post("/admin/groups/"+itoa(id), fxForm("name", "x", "title", "x")); r.StatusCode != http.StatusNotFound {
			t.Errorf("save a deleted group: %d, want 404", r.StatusCode)
		}
	})
}

func appGroups(t *testing.T, app *webtest.App) string {
	t.Helper()
	list, err := app.Store.Apps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, a := range list {
		parts = append(parts, fmt.Sprintf("%s:%v", a.Name, a.Groups))
	}
	return strings.Join(parts, " ")
}

// TestSecurityGroupsAdminOnly: a signed-in member who is not an admin is refused every groups route
// with 403, an anonymous visitor is sent to sign in, and neither changes anything.
func TestSecurityGroupsAdminOnly(t *testing.T) {
	forEachGroups(t, func(t *testing.T, app *webtest.App) {
		w := newGroupsWorld(t, app)
		id := itoa(w.create(t, "research", "R&D", "dept:corp:2"))
		member := fxSignedIn(t, app, "member")
		before := groupsSnapshot(t, app)
		form := fxForm("name", "pwned", "title", "x", "rules", "user:member", "confirm", "yes")
		for _, rt := range []struct{ method, path string }{
			{"GET", "/admin/groups"}, {"GET", "/admin/groups/new"}, {"POST", "/admin/groups"},
			{"GET", "/admin/groups/" + id}, {"POST", "/admin/groups/" + id}, {"POST", "/admin/groups/" + id + "/delete"},
		} {
			for _, who := range []struct {
				name string
				c    *webtest.Client
				want int
			}{{"member", member, http.StatusForbidden}, {"anonymous", app.Client(), http.StatusSeeOther}} {
				var r *webtest.Response
				if rt.method == "GET" {
					r = who.c.Get(rt.path)
				} else {
					r = who.c.Post(rt.path, form)
				}
				if r.StatusCode != who.want || (who.want == http.StatusSeeOther && !strings.HasPrefix(r.Location(), "/signin")) {
					t.Errorf("%s %s as %s: %d %q, want %d", rt.method, rt.path, who.name, r.StatusCode, r.Location(), who.want)
				}
				if strings.Contains(r.Body, "dept:corp:2") {
					t.Errorf("%s %s as %s shows the rules", rt.method, rt.path, who.name)
				}
			}
		}
		if groupsSnapshot(t, app) != before {
			t.Error("a refused request changed the groups")
		}
	})
}

// TestSecurityGroupsFollowAuthenticator: renaming a WeCom authenticator rewrites the groups' rules that
// name it (the group keeps its members); deleting it drops those rules, so that a new authenticator
// given the old name (another corp, whose department ids mean other people) inherits nothing.
func TestSecurityGroupsFollowAuthenticator(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			app := w.app
			ctx := context.Background()
			if err := app.Store.UpsertDirectoryDepartment(ctx, &models.DirectoryDepartment{AuthenticatorID: w.a.ID, DeptID: 2, ParentID: 1, Name: "R&D"}); err != nil {
				t.Fatal(err)
			}
			fxUser(t, app, "root", true)
			admin := fxSignedIn(t, app, "root")
			alice := fxUser(t, app, "alice", false)
			b := w.bind(t, w.a, alice, "alice")
			if err := app.Store.SaveDirectoryMember(ctx, &models.DirectoryMember{BindingID: b.ID, AuthenticatorID: w.a.ID, UserID: alice.ID, Status: 1,
				Departments: []int64{2}, Ancestry: []int64{2, 1}, RefreshedAt: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
			gw := &groupsWorld{app: app, admin: admin}
			id := gw.create(t, "research", "R&D", "dept:corp:2\nuser:alice")
			other := gw.create(t, "others", "Others", "user:alice")
			rules := func(id int64) string {
				g, err := app.Store.Group(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return g.Rules
			}

			if r := admin.Post("/admin/authenticators/"+itoa(w.a.ID), editForm(w, map[string]string{"name": "acme"})); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("rename the authenticator: %d %s", r.StatusCode, r.Find(".field-error").Text())
			}
			if got := rules(id); got != "dept:acme:2\nuser:alice\n" {
				t.Errorf("after the rename, rules %q", got)
			}
			if got := rules(other); got != "user:alice\n" {
				t.Errorf("a group not naming the authenticator changed: %q", got)
			}
			if got := texts(admin.Get("/admin/groups/"+itoa(id)), "[data-testid=member-row] a"); !slices.Equal(got, []string{"alice"}) {
				t.Errorf("members after the rename %v", got)
			}

			if r := admin.Post("/admin/authenticators/"+itoa(w.a.ID)+"/delete", fxForm("confirm", "yes")); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("delete the authenticator: %d", r.StatusCode)
			}
			if got := rules(id); got != "user:alice\n" {
				t.Errorf("after the delete, rules %q", got)
			}
			// A new authenticator named like the old one, another corp with a department 2 and bob in it.
			acme := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "acme", CorpID: "wwother0123456789a", AgentID: 5, Secret: "s"})
			bob := fxUser(t, app, "bob", false)
			bb := w.bind(t, acme, bob, "bob")
			if err := app.Store.SaveDirectoryMember(ctx, &models.DirectoryMember{BindingID: bb.ID, AuthenticatorID: acme.ID, UserID: bob.ID, Status: 1,
				Departments: []int64{2}, Ancestry: []int64{2, 1}, RefreshedAt: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
			if got := texts(admin.Get("/admin/groups/"+itoa(id)), "[data-testid=member-row] a"); !slices.Equal(got, []string{"alice"}) {
				t.Errorf("members after a new authenticator took the name: %v", got)
			}
		})
	}
}
