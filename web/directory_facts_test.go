package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// Departments and tags of the directory world: Acme (1) → Engineering (10) → Platform (11), Acme →
// Sales (20); tag 7 "Leads" names alice.
const (
	deptEngineering = 10
	deptPlatform    = 11
	deptSales       = 20
	tagLeads        = 7
)

// newDirectoryWorld is newWorld with a small tree of departments and a tag, alice in Platform, and
// alice bound to a Gatehouse user with no other way to sign in.
func newDirectoryWorld(t *testing.T, dialect string) (*wecomWorld, models.User) {
	t.Helper()
	w := newWorld(t, dialect, worldSpec{})
	for _, d := range []wecomtest.Department{
		{ID: deptEngineering, Name: "Engineering", ParentID: 1},
		{ID: deptPlatform, Name: "Platform", ParentID: deptEngineering},
		{ID: deptSales, Name: "Sales", ParentID: 1},
	} {
		if err := w.sim.AddDepartment(corpID, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.sim.AddTag(corpID, wecomtest.Tag{ID: tagLeads, Name: "Leads", Users: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.SetMemberDepartments(corpID, "alice", []int{deptPlatform}); err != nil {
		t.Fatal(err)
	}
	u := w.app.CreateUser("alice", "", false, "")
	w.bind(t, w.a, u, "alice")
	return w, u
}

// directoryMember loads what Gatehouse recorded of the user's one binding.
func directoryMember(t *testing.T, app *webtest.App, userID int64) models.DirectoryMember {
	t.Helper()
	list, err := app.Store.UserDirectoryMembers(context.Background(), userID)
	if err != nil || len(list) != 1 {
		t.Fatalf("directory members = %+v, %v; want one", list, err)
	}
	return list[0]
}

// TestSecurityDirectoryAtSignin: every status and errcode user/get can give at a sign-in ends as
// DESIGN.md §11 says, with the facts recorded: active and not-activated members sign in; disabled,
// left and unavailable members are cut off on member_left (403), and their next sign-in ends there
// again without asking WeCom.
func TestSecurityDirectoryAtSignin(t *testing.T) {
	cases := []struct {
		name     string
		change   func(sim *wecomtest.Sim)
		signedIn bool
		status   int
	}{
		{"active", func(*wecomtest.Sim) {}, true, models.MemberActive},
		{"not activated", func(s *wecomtest.Sim) { s.SetMemberStatus(corpID, "alice", 4) }, true, models.MemberNotActive},
		{"disabled", func(s *wecomtest.Sim) { s.SetMemberStatus(corpID, "alice", 2) }, false, models.MemberDisabled},
		{"left", func(s *wecomtest.Sim) { s.SetMemberStatus(corpID, "alice", 5) }, false, models.MemberLeft},
		{"60111 removed", func(s *wecomtest.Sim) { s.RemoveMember(corpID, "alice") }, false, models.MemberUnavailable},
		{"60011 outside the visible range", func(s *wecomtest.Sim) { s.SetMemberVisibleTo(corpID, "alice", []int64{999}) }, false, models.MemberUnavailable},
		{"40003 invalid userid", func(s *wecomtest.Sim) { s.FailNext("user/get", 1, 40003) }, false, models.MemberUnavailable},
	}
	for _, dialect := range modelstest.Dialects() {
		for _, tc := range cases {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				w, u := newDirectoryWorld(t, dialect)
				c := w.app.Client()
				target := w.toCallback(t, c, "alice", "/auth/wecom/corp/start")
				tc.change(w.sim) // after the code: WeCom confirmed the identity, then the member changed
				r := c.Get(target)
				m := directoryMember(t, w.app, u.ID)
				if m.Status != tc.status {
					t.Errorf("stored status = %d, want %d", m.Status, tc.status)
				}
				if tc.signedIn {
					if r.StatusCode != http.StatusSeeOther || m.SuspendedAt != nil {
						t.Fatalf("sign-in = %d %q, suspended %v; want signed in", r.StatusCode, r.Outcome(), m.SuspendedAt)
					}
					if !slices.Equal(m.Departments, []int64{deptPlatform}) || !slices.Equal(m.Ancestry, []int64{deptPlatform, deptEngineering, 1}) ||
						!slices.Equal(m.Tags, []int64{tagLeads}) {
						t.Errorf("facts = %+v, want Platform, its ancestors and Leads", m)
					}
					return
				}
				if r.StatusCode != http.StatusForbidden || r.Outcome() != "member_left" {
					t.Fatalf("sign-in = %d %q, want 403 member_left", r.StatusCode, r.Outcome())
				}
				if m.SuspendedAt == nil {
					t.Error("binding not suspended")
				}
				if got, _ := w.app.Store.UserByID(context.Background(), u.ID); !got.Disabled || !got.DisabledByDirectory {
					t.Errorf("user with no other way in not disabled by the directory: %+v", got)
				}
				if _, detail := lastAudit(t, w.app, directory.ActionMemberLeft); detail["status"] != float64(tc.status) || detail["source"] != directory.SourceSignin {
					t.Errorf("member_left audit = %v", detail)
				}
				// The member is active again in WeCom, but the suspended binding still signs nobody in
				// (until a sweep or an event lets them back), and WeCom is not asked.
				w.sim.SetMemberStatus(corpID, "alice", 1)
				w.sim.SetMemberVisibleTo(corpID, "alice", nil)
				if tc.name == "60111 removed" {
					w.sim.AddMember(corpID, wecomtest.Member{UserID: "alice", Name: "Alice"})
				}
				before := w.sim.Calls("user/get")
				c2 := w.app.Client()
				r = w.signIn(t, c2, "alice", "/auth/wecom/corp/start")
				if r.StatusCode != http.StatusForbidden || r.Outcome() != "member_left" {
					t.Errorf("second sign-in = %d %q, want 403 member_left", r.StatusCode, r.Outcome())
				}
				if got := w.sim.Calls("user/get"); got != before {
					t.Errorf("user/get calls for a suspended binding = %d, want none", got-before)
				}
				if c2.Cookie("gatehouse_session") != "" {
					t.Error("a session cookie was set")
				}
			})
		}
	}
}

// TestDirectoryFactsAtSignin: departments with every visible ancestor (the walk stops at a parent
// outside the visible range), tags, the tree fetched once for many sign-ins, a moved member audited
// with department names, and a failed refresh that does not block the sign-in.
func TestDirectoryFactsAtSignin(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		w, u := newDirectoryWorld(t, dialect)
		// Only Engineering's subtree is visible: Acme (1) is not, so the walk stops at Engineering.
		if err := w.sim.SetVisibleRange(corpID, agentID, []int{deptEngineering}); err != nil {
			t.Fatal(err)
		}
		others := map[string]int{"bob": deptEngineering, "erin": deptPlatform}
		for name, dept := range others {
			if err := w.sim.SetMemberDepartments(corpID, name, []int{dept}); err != nil {
				t.Fatal(err)
			}
			w.bind(t, w.a, w.app.CreateUser(name, "", false, ""), name)
		}
		w.sim.ResetCalls()
		for _, name := range []string{"alice", "bob", "erin", "alice", "bob"} {
			if r := w.signIn(t, w.app.Client(), name, "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
				t.Fatalf("%s: sign-in ended %d %q", name, r.StatusCode, r.Outcome())
			}
		}
		m := directoryMember(t, w.app, u.ID)
		if !slices.Equal(m.Ancestry, []int64{deptPlatform, deptEngineering}) {
			t.Errorf("ancestry = %v, want Platform and Engineering (Acme is outside the visible range)", m.Ancestry)
		}
		for endpoint, want := range map[string]int{"department/simplelist": 1, "department/get": 2, "tag/list": 1, "tag/get": 1, "user/get": 5} {
			if got := w.sim.Calls(endpoint); got != want {
				t.Errorf("%s calls for five sign-ins = %d, want %d", endpoint, got, want)
			}
		}
		depts, err := w.app.Store.DirectoryDepartments(context.Background(), w.a.ID)
		if err != nil || len(depts) != 2 || depts[0].Name != "Engineering" || depts[0].ParentID != 1 || depts[1].Name != "Platform" {
			t.Errorf("recorded departments = %+v, %v", depts, err)
		}
		if tags, err := w.app.Store.DirectoryTags(context.Background(), w.a.ID); err != nil || len(tags) != 1 || tags[0].Name != "Leads" {
			t.Errorf("recorded tags = %+v, %v", tags, err)
		}

		// Moved: audited with the names; an unchanged sign-in audits nothing.
		if err := w.sim.SetMemberDepartments(corpID, "alice", []int{deptEngineering}); err != nil {
			t.Fatal(err)
		}
		w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start")
		ev, detail := lastAudit(t, w.app, directory.ActionMemberMoved)
		if ev.Target != "alice" || strings.Join(asStrings(detail["from_names"]), ",") != "Platform" || strings.Join(asStrings(detail["to_names"]), ",") != "Engineering" {
			t.Errorf("member_moved audit = %s %v", ev.Target, detail)
		}
		w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start")
		if n, _ := w.app.Store.CountEvents(context.Background(), directory.ActionMemberMoved, time.Time{}); n != 1 {
			t.Errorf("member_moved events = %d, want 1", n)
		}

		// WeCom busy on user/get: the identity is confirmed, so the sign-in goes on with the last facts.
		w.sim.FailNext("user/get", 4, 45009)
		if r := w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
			t.Errorf("sign-in while user/get is rate limited = %d %q, want signed in", r.StatusCode, r.Outcome())
		}
		if m := directoryMember(t, w.app, u.ID); !slices.Equal(m.Departments, []int64{deptEngineering}) || m.SuspendedAt != nil {
			t.Errorf("facts after a failed refresh = %+v", m)
		}
	})
}

// eachDialect runs fn once per database as a subtest.
func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) { fn(t, dialect) })
	}
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestDirectoryFactsPages: the admin user page and the member's /account and /m show the binding's
// status, departments with their paths, tags and when it was refreshed; a suspended binding has its
// badge; member_left says what happened in English and Chinese.
func TestDirectoryFactsPages(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		w, u := newDirectoryWorld(t, dialect)
		c := w.app.Client()
		if r := w.signIn(t, c, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
			t.Fatalf("sign-in ended %d %q", r.StatusCode, r.Outcome())
		}
		for _, path := range []string{"/account", "/m"} {
			r := c.Get(path)
			if got := r.Find(`[data-testid="directory-department"]`).Text(); got != "Acme / Engineering / Platform" {
				t.Errorf("%s: department = %q", path, got)
			}
			if got := r.Find(`[data-testid="directory-tag"]`).Text(); got != "Leads" {
				t.Errorf("%s: tags = %q", path, got)
			}
			if got, _ := r.Find(`[data-testid="directory-status"]`).Attr("data-status"); got != "1" {
				t.Errorf("%s: status = %q", path, got)
			}
		}
		w.app.CreateUser("root", "root-password-1", true, "")
		admin := w.app.Client()
		admin.SignIn("root", "root-password-1")
		// Cut off (as an event or the sweep would): the admin sees the badge.
		members := &directory.Members{Store: w.app.Store, Now: func() time.Time { return time.Now().UTC() }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := members.Left(context.Background(), w.a, "alice", models.MemberLeft, directory.SourceEvent); err != nil {
			t.Fatal(err)
		}
		r := admin.Get("/admin/users/" + strconv.FormatInt(u.ID, 10))
		if r.StatusCode != http.StatusOK || r.Find(`[data-testid="directory-suspended"]`).Length() != 1 {
			t.Fatalf("user page %d: no suspended badge", r.StatusCode)
		}
		if got := r.Find(`[data-testid="directory-department"]`).Text(); got != "Acme / Engineering / Platform" {
			t.Errorf("user page department = %q", got)
		}
		for lang, want := range map[string]string{"en": "left the organisation", "zh-Hans": "已离开企业"} {
			c := w.app.Client()
			c.Language = lang
			r := w.signIn(t, c, "alice", "/auth/wecom/corp/start")
			if r.StatusCode != http.StatusForbidden || r.Outcome() != "member_left" || !strings.Contains(r.Body, want) {
				t.Errorf("%s: member_left page = %d %q, want 403 saying %q", lang, r.StatusCode, r.Outcome(), want)
			}
			if r.Find(`[data-testid="outcome-try-again"]`).Length() != 0 {
				t.Errorf("%s: member_left offers to try again", lang)
			}
		}
	})
}
