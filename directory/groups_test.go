package directory_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gatehouse/apps"
	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		line string
		want directory.Rule
		bad  bool
	}{
		{line: "dept:corp:5", want: directory.Rule{Kind: "dept", Authenticator: "corp", ID: 5}},
		{line: "  tag:branch:12  ", want: directory.Rule{Kind: "tag", Authenticator: "branch", ID: 12}},
		{line: "dept:corp: 007", want: directory.Rule{Kind: "dept", Authenticator: "corp", ID: 7}},
		{line: "user:Alice", want: directory.Rule{Kind: "user", Username: "alice"}},
		{line: "user: bob ", want: directory.Rule{Kind: "user", Username: "bob"}},
		{line: "alice", bad: true},
		{line: "user:", bad: true},
		{line: "user:a b", bad: true},
		{line: "user:a:b", bad: true},
		{line: "dept:corp", bad: true},
		{line: "dept::5", bad: true},
		{line: "dept:corp:", bad: true},
		{line: "dept:corp:x", bad: true},
		{line: "dept:corp:-1", bad: true},
		{line: "dept:corp:0", bad: true},
		{line: "dept:corp:1:2", bad: true},
		{line: "tag:co rp:1", bad: true},
		{line: "dept:corp:99999999999999999999", bad: true},
		{line: "group:corp:1", bad: true},
		{line: "DEPT:corp:1", bad: true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, err := directory.ParseRule(tc.line)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseRule(%q) = %+v, want an error", tc.line, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRule(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
			}
			if again, err := directory.ParseRule(got.String()); err != nil || again != got {
				t.Fatalf("String() %q does not read back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseRulesSkipsBlankLines(t *testing.T) {
	rules, err := directory.ParseRules("dept:corp:1\n\n  \r\nuser:alice\r\n")
	if err != nil || len(rules) != 2 || rules[1].Username != "alice" {
		t.Fatalf("ParseRules = %+v, %v", rules, err)
	}
	if _, err := directory.ParseRules("dept:corp:1\nnonsense\n"); err == nil {
		t.Fatal("a bad line was accepted")
	}
}

// TestRuleMatches: a department rule matches its sub-departments through Ancestry, tags match, users
// match by username, the authenticator is part of the id (two corps may both have department 2), and a
// suspended member matches nothing.
func TestRuleMatches(t *testing.T) {
	const corp, branch = 1, 2
	names := map[int64]string{corp: "corp", branch: "branch"}
	alice := models.User{ID: 10, Username: "alice"}
	suspended := time.Now()
	// Alice sits in corp's department 4 (under 2, under 1) and has corp's tag 7; at branch she is in
	// department 9 (under 1).
	members := []models.DirectoryMember{
		{BindingID: 1, AuthenticatorID: corp, UserID: 10, Status: 1, Departments: []int64{4}, Ancestry: []int64{4, 2, 1}, Tags: []int64{7}},
		{BindingID: 2, AuthenticatorID: branch, UserID: 10, Status: 1, Departments: []int64{9}, Ancestry: []int64{9, 1}},
	}
	for _, tc := range []struct {
		rule    string
		members []models.DirectoryMember
		want    bool
	}{
		{"dept:corp:4", members, true},
		{"dept:corp:2", members, true}, // parent department
		{"dept:corp:1", members, true}, // root
		{"dept:corp:3", members, false},
		{"dept:corp:9", members, false},  // 9 is branch's department, not corp's
		{"dept:branch:9", members, true}, // same member, other corp
		{"dept:branch:2", members, false},
		{"dept:branch:4", members, false},
		{"tag:corp:7", members, true},
		{"tag:branch:7", members, false},
		{"tag:corp:8", members, false},
		{"dept:other:4", members, false}, // an authenticator that does not exist
		{"user:alice", nil, true},
		{"user:bob", members, false},
		{"dept:corp:4", []models.DirectoryMember{withSuspended(members[0], &suspended)}, false},
		{"tag:corp:7", []models.DirectoryMember{withSuspended(members[0], &suspended)}, false},
		{"dept:branch:9", []models.DirectoryMember{withSuspended(members[0], &suspended), members[1]}, true},
		{"user:alice", []models.DirectoryMember{withSuspended(members[0], &suspended)}, true}, // a user rule does not depend on WeCom
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r, err := directory.ParseRule(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Matches(alice, tc.members, names); got != tc.want {
				t.Fatalf("%s matches = %v, want %v", tc.rule, got, tc.want)
			}
		})
	}
}

func withSuspended(m models.DirectoryMember, at *time.Time) models.DirectoryMember {
	m.SuspendedAt = at
	return m
}

func TestDepartmentPath(t *testing.T) {
	by := map[int64]models.DirectoryDepartment{
		1: {DeptID: 1, ParentID: 0, Name: "总部"},
		2: {DeptID: 2, ParentID: 1, Name: "研发部"},
		3: {DeptID: 3, ParentID: 2, Name: "后端组"},
		5: {DeptID: 5, ParentID: 40, Name: "分部"}, // parent outside the visible range
		6: {DeptID: 6, ParentID: 5},
		7: {DeptID: 7, ParentID: 8, Name: "A"}, // a loop must not hang
		8: {DeptID: 8, ParentID: 7, Name: "B"},
	}
	for id, want := range map[int64]string{1: "总部", 3: "总部 / 研发部 / 后端组", 6: "分部 / #6", 7: "B / A", 99: ""} {
		if got := directory.DepartmentPath(by, id); got != want {
			t.Errorf("DepartmentPath(%d) = %q, want %q", id, got, want)
		}
	}
}

// directoryWorld is a store with two WeCom authenticators ("corp" and "branch") whose corps both have a
// department 2, the password authenticator, and users.
type directoryWorld struct {
	st           *models.Store
	corp, branch models.Authenticator
	users        map[string]models.User
	ctx          context.Context
}

func newDirectoryWorld(t *testing.T, st *models.Store) *directoryWorld {
	t.Helper()
	ctx := context.Background()
	w := &directoryWorld{st: st, users: map[string]models.User{}, ctx: ctx}
	for _, a := range []*models.Authenticator{&w.corp, &w.branch} {
		name := "corp"
		if a == &w.branch {
			name = "branch"
		}
		*a = models.Authenticator{Name: name, Type: models.TypeWeCom, Title: name, Enabled: true, Sort: 10,
			Options: models.AuthenticatorOptions{CorpID: "ww" + name + "0123456789abcd", AgentID: 1}}
		if err := st.CreateAuthenticator(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []models.DirectoryDepartment{
		{AuthenticatorID: w.corp.ID, DeptID: 1, Name: "总部"},
		{AuthenticatorID: w.corp.ID, DeptID: 2, ParentID: 1, Name: "研发部"},
		{AuthenticatorID: w.corp.ID, DeptID: 3, ParentID: 2, Name: "后端组"},
		{AuthenticatorID: w.corp.ID, DeptID: 4, ParentID: 1, Name: "销售部"},
		{AuthenticatorID: w.branch.ID, DeptID: 1, Name: "Branch"},
		{AuthenticatorID: w.branch.ID, DeptID: 2, ParentID: 1, Name: "Warehouse"},
	} {
		if err := st.UpsertDirectoryDepartment(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range []models.DirectoryTag{{AuthenticatorID: w.corp.ID, TagID: 7, Name: "on-call"}, {AuthenticatorID: w.branch.ID, TagID: 7, Name: "drivers"}} {
		if err := st.UpsertDirectoryTag(ctx, &tg); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *directoryWorld) user(t *testing.T, name string, disabled bool) models.User {
	t.Helper()
	u := models.User{Username: name, Disabled: disabled}
	if err := w.st.CreateUser(w.ctx, &u); err != nil {
		t.Fatal(err)
	}
	w.users[name] = u
	return u
}

// member records what WeCom said about u at authenticator a.
func (w *directoryWorld) member(t *testing.T, u models.User, a models.Authenticator, ancestry, tags []int64, suspended bool) models.Binding {
	t.Helper()
	b := models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: u.Username, CorpID: a.Options.CorpID, CreatedAt: time.Now().UTC()}
	if err := w.st.CreateBinding(w.ctx, &b); err != nil {
		t.Fatal(err)
	}
	m := models.DirectoryMember{BindingID: b.ID, AuthenticatorID: a.ID, UserID: u.ID, Status: models.MemberActive,
		Departments: ancestry[:min(1, len(ancestry))], Ancestry: ancestry, Tags: tags, RefreshedAt: time.Now().UTC()}
	if suspended {
		now := time.Now().UTC()
		m.Status, m.SuspendedAt = models.MemberLeft, &now
	}
	if err := w.st.SaveDirectoryMember(w.ctx, &m); err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *directoryWorld) group(t *testing.T, name, rules string) models.Group {
	t.Helper()
	g, err := directory.CreateGroup(w.ctx, w.st, directory.GroupInput{Name: name, Title: name, Rules: rules})
	if err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return g
}

func (w *directoryWorld) members(t *testing.T, g models.Group) []string {
	t.Helper()
	users, total, err := directory.GroupMembers(w.ctx, w.st, g, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if int(total) != len(users) {
		t.Fatalf("%s: total %d, listed %d", g.Name, total, len(users))
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

// TestGroupMembersAndUserGroups: on both databases, the set-based member query and the per-user
// computation agree, for sub-departments through Ancestry, tags, users, two corps with the same
// department id, suspended members and disabled users (who still compute, and whom apps.Allowed refuses).
func TestGroupMembersAndUserGroups(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		w := newDirectoryWorld(t, st)
		alice := w.user(t, "alice", false) // corp backend (3 under 2 under 1), tag 7
		bob := w.user(t, "bob", false)     // branch department 2 (the other corp's 2)
		carol := w.user(t, "carol", false) // corp sales (4), suspended
		dave := w.user(t, "dave", true)    // corp research (2), disabled in Gatehouse
		w.user(t, "erin", false)           // no WeCom at all
		frank := w.user(t, "frank", false) // corp backend, but left; branch tag 7 active
		w.user(t, "grace", false)          // nothing
		aliceAtCorp := w.member(t, alice, w.corp, []int64{3, 2, 1}, []int64{7}, false)
		w.member(t, bob, w.branch, []int64{2, 1}, nil, false)
		w.member(t, carol, w.corp, []int64{4, 1}, []int64{7}, true)
		w.member(t, dave, w.corp, []int64{2, 1}, nil, false)
		w.member(t, frank, w.corp, []int64{3, 2, 1}, nil, true)
		w.member(t, frank, w.branch, []int64{1}, []int64{7}, false)
		// Ids that share digits with others (12, 21) must not match by text.
		w.member(t, w.user(t, "heidi", false), w.corp, []int64{12, 21}, []int64{17, 70}, false)

		groups := map[string]models.Group{
			"research":  w.group(t, "research", "dept:corp:2"),
			"backend":   w.group(t, "backend", "dept:corp:3"),
			"everyone":  w.group(t, "everyone", "dept:corp:1\ndept:branch:1"),
			"warehouse": w.group(t, "warehouse", "dept:branch:2"),
			"on-call":   w.group(t, "on-call", "tag:corp:7"),
			"drivers":   w.group(t, "drivers", "tag:branch:7"),
			"named":     w.group(t, "named", "user:erin\nuser:alice"),
			"mixed":     w.group(t, "mixed", "dept:corp:4\ntag:branch:7\nuser:grace"),
			"sales":     w.group(t, "sales", "dept:corp:4"),
			"no-rules":  w.group(t, "no-rules", ""),
		}
		want := map[string][]string{
			"research":  {"alice", "dave"},
			"backend":   {"alice"},
			"everyone":  {"alice", "bob", "dave", "frank"},
			"warehouse": {"bob"},
			"on-call":   {"alice"},
			"drivers":   {"frank"},
			"named":     {"alice", "erin"},
			"mixed":     {"frank", "grace"},
			"sales":     nil,
			"no-rules":  nil,
		}
		userWant := map[string][]string{}
		for g, names := range want {
			if got := w.members(t, groups[g]); !slices.Equal(got, names) {
				t.Errorf("members of %s = %v, want %v", g, got, names)
			}
			for _, n := range names {
				userWant[n] = append(userWant[n], g)
			}
		}
		for name, u := range w.users {
			got, err := directory.UserGroups(w.ctx, st, u)
			if err != nil {
				t.Fatal(err)
			}
			exp := userWant[name]
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("UserGroups(%s) = %v, want %v", name, got, exp)
			}
		}

		// Dave is disabled: his groups still compute, but no app lets him in; Alice's do.
		app := models.App{Name: "wiki", Enabled: true, Access: models.AccessGroups, Groups: []string{"research"}}
		daveGroups, _ := directory.UserGroups(w.ctx, st, dave)
		aliceGroups, _ := directory.UserGroups(w.ctx, st, alice)
		if !slices.Contains(daveGroups, "research") || apps.Allowed(app, dave, daveGroups) {
			t.Errorf("disabled dave: groups %v, allowed %v; want research and refused", daveGroups, apps.Allowed(app, dave, daveGroups))
		}
		if !apps.Allowed(app, alice, aliceGroups) {
			t.Error("alice, in research, was refused")
		}

		// Unbound from corp, what corp said about Alice no longer counts (the row may outlive the
		// binding); her named group stays.
		if _, err := st.DeleteUserBinding(w.ctx, alice.ID, aliceAtCorp.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := directory.UserGroups(w.ctx, st, alice); !slices.Equal(got, []string{"named"}) {
			t.Errorf("unbound alice's groups %v, want [named]", got)
		}
		if got := w.members(t, groups["research"]); !slices.Equal(got, []string{"dave"}) {
			t.Errorf("research after alice's unbinding: %v", got)
		}
		w.member(t, alice, w.corp, []int64{3, 2, 1}, []int64{7}, false) // bound again; the stale row stays ignored

		// The listing's counts agree.
		sums, err := directory.GroupSummaries(w.ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sums {
			if int(s.Members) != len(want[s.Name]) {
				t.Errorf("summary of %s: %d members, want %d", s.Name, s.Members, len(want[s.Name]))
			}
		}
	})
}

// TestCheckRules: every problem a rule line can have is reported with its line number, and a good
// text is normalised.
func TestCheckRules(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		w := newDirectoryWorld(t, st)
		w.user(t, "alice", false)
		text := "dept:corp:3\n\nnonsense\ndept:nowhere:1\ndept:password:1\ndept:corp:99\ntag:corp:8\ntag:branch:7\nuser:nobody\nuser:ALICE\ndept:corp:003\ndept:branch:2\n"
		rules, problems, err := directory.CheckRules(w.ctx, st, text)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]string{}
		for _, p := range problems {
			got[p.Line] = p.Code
		}
		want := map[int]string{3: "shape", 4: "unknown_authenticator", 5: "not_wecom", 6: "unknown_department", 7: "unknown_tag", 9: "unknown_user", 11: "duplicate"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("problems = %v, want %v", got, want)
		}
		if p := problems[len(problems)-1]; p.Other != 1 {
			t.Errorf("the duplicate on line 11 names line %d, want 1", p.Other)
		}
		if len(rules) != 9 {
			t.Errorf("rules kept: %d, want 9", len(rules))
		}

		_, problems, err = directory.CheckRules(w.ctx, st, "dept:corp:3\r\ntag:branch:7\r\nuser:Alice\r\n")
		if err != nil || len(problems) != 0 {
			t.Fatalf("good rules: %v, %v", problems, err)
		}
		g := w.group(t, "ok", " user:Alice \n\ndept:corp: 3")
		if g.Rules != "user:alice\ndept:corp:3\n" {
			t.Errorf("stored rules %q", g.Rules)
		}
	})
}

// TestGroupRenameAndDeleteUpdateApps: renaming a group rewrites the applications naming it, deleting
// removes the name from them, both in one transaction, leaving other apps and names alone.
func TestGroupRenameAndDeleteUpdateApps(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		w := newDirectoryWorld(t, st)
		g := w.group(t, "research", "dept:corp:2")
		w.group(t, "research-2", "dept:corp:3")
		mk := func(name string, groups ...string) {
			a := models.App{Name: name, Type: models.AppTypeProxy, Enabled: true, Access: models.AccessGroups, Groups: groups, ClientID: "cid-" + name}
			if err := st.CreateApp(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}
		mk("wiki", "research", "ops")
		mk("ci", "ops", "research")
		mk("crm", "research-2")
		mk("open")
		appGroups := func() map[string][]string {
			list, err := st.Apps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][]string{}
			for _, a := range list {
				out[a.Name] = a.Groups
			}
			return out
		}
		ch, err := directory.UpdateGroup(ctx, st, g.ID, directory.GroupInput{Name: "rnd", Title: "R&D", Rules: "dept:corp:2"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ch.Apps, []string{"ci", "wiki"}) || ch.OldName != "research" {
			t.Errorf("rename changed %v from %q", ch.Apps, ch.OldName)
		}
		if got := fmt.Sprint(appGroups()); got != "map[ci:[ops rnd] crm:[research-2] open:[] wiki:[ops rnd]]" {
			t.Errorf("after rename: %s", got)
		}
		if _, err := directory.UpdateGroup(ctx, st, g.ID, directory.GroupInput{Name: "research-2", Title: "x"}); err == nil {
			t.Error("renaming onto another group's name was accepted")
		}
		gone, changed, err := st.DeleteGroupEverywhere(ctx, g.ID)
		if err != nil || gone.Name != "rnd" || !slices.Equal(changed, []string{"ci", "wiki"}) {
			t.Fatalf("delete: %v %v %v", gone.Name, changed, err)
		}
		if got := fmt.Sprint(appGroups()); got != "map[ci:[ops] crm:[research-2] open:[] wiki:[ops]]" {
			t.Errorf("after delete: %s", got)
		}
		if _, err := st.Group(ctx, g.ID); err == nil {
			t.Error("the group is still there")
		}
	})
}

// TestAuthenticatorNameInRules: renaming an authenticator rewrites exactly the rules naming it (not
// one whose name merely starts the same), dropping it removes exactly those.
func TestAuthenticatorNameInRules(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		w := newDirectoryWorld(t, st)
		w.user(t, "alice", false)
		a := w.group(t, "a", "dept:corp:2\ntag:corp:7\ndept:branch:2\nuser:alice")
		b := w.group(t, "b", "dept:branch:1")
		changed, err := st.RenameAuthenticatorInGroups(ctx, "branch", "branch-office")
		if err != nil || !slices.Equal(changed, []string{"a", "b"}) {
			t.Fatalf("rename changed %v, %v", changed, err)
		}
		changed, err = st.DropAuthenticatorFromGroups(ctx, "corp")
		if err != nil || !slices.Equal(changed, []string{"a"}) {
			t.Fatalf("drop changed %v, %v", changed, err)
		}
		for _, tc := range []struct {
			id   int64
			want string
		}{{a.ID, "dept:branch-office:2\nuser:alice\n"}, {b.ID, "dept:branch-office:1\n"}} {
			g, err := st.Group(ctx, tc.id)
			if err != nil || g.Rules != tc.want {
				t.Errorf("group %d rules %q, want %q (%v)", tc.id, g.Rules, tc.want, err)
			}
		}
		if changed, err := st.RenameAuthenticatorInGroups(ctx, "branch", "x"); err != nil || len(changed) != 0 {
			t.Errorf("renaming a name no rule uses changed %v, %v", changed, err)
		}
	})
}
