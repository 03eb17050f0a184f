package wecomtest

import (
	"slices"
	"sync"
	"testing"
)

// TestUserListIDRefusedForAppSecret: user/list_id is for the contacts-sync secret only; an app's token
// is refused (48002, the likely errcode), a missing token as everywhere.
func TestUserListIDRefusedForAppSecret(t *testing.T) {
	e := newSimEnv(t)
	reply, _ := e.api("", "POST", target("/cgi-bin/user/list_id", "access_token", e.demoToken()), `{"cursor":"","limit":100}`)
	if got := errcode(reply); got != 48002 {
		t.Errorf("list_id with an app token: errcode %d, want 48002", got)
	}
	if reply, _ := e.api("", "POST", "/cgi-bin/user/list_id", `{}`); errcode(reply) != 41001 {
		t.Errorf("list_id without a token: %v", reply)
	}
}

// TestUserGetStatusAndVisibleDepartments: user/get carries the status and only the departments the
// app may see; 60111 for a removed member, 60011 outside the visible range, 40003 for a malformed id.
func TestUserGetStatusAndVisibleDepartments(t *testing.T) {
	e := newSimEnv(t)
	tok := e.demoToken()
	get := func(userid string) map[string]any {
		reply, _ := e.api("", "GET", target("/cgi-bin/user/get", "access_token", tok, "userid", userid), "")
		return reply
	}
	if r := get("zhaoliu"); r["status"] != float64(2) {
		t.Errorf("disabled member: %v", r)
	}
	if err := e.sim.SetMemberDepartments(DemoCorpID, "lisi", []int{DemoDeptBackend, DemoDeptSales}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetVisibleRange(DemoCorpID, DemoAgentID, []int{DemoDeptRD}); err != nil {
		t.Fatal(err)
	}
	if r := get("lisi"); !slices.Equal(r["department"].([]any), []any{float64(DemoDeptBackend)}) {
		t.Errorf("departments = %v, want backend only (marketing is outside the range)", r["department"])
	}
	if err := e.sim.RemoveMember(DemoCorpID, "sunqi"); err != nil {
		t.Fatal(err)
	}
	for userid, want := range map[string]int{"sunqi": 60111, "wangwu": 60011, "bad id!": 40003} {
		if got := errcode(get(userid)); got != want {
			t.Errorf("%s: errcode %d, want %d", userid, got, want)
		}
	}
}

// TestMemberChangeHook: every setter tells the hooks what changed, before and after, outside the lock
// (a hook may call the simulator).
func TestMemberChangeHook(t *testing.T) {
	e := newSimEnv(t)
	var mu sync.Mutex
	var got []MemberChange
	e.sim.OnMemberChange(func(ch MemberChange) {
		e.sim.Calls("user/get") // takes the lock: would deadlock if called under it
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ch)
	})
	steps := []func() error{
		func() error { return e.sim.SetMemberStatus(DemoCorpID, "lisi", 5) },
		func() error { return e.sim.SetMemberVisibleTo(DemoCorpID, "lisi", []int64{7}) },
		func() error { return e.sim.SetMemberDepartments(DemoCorpID, "lisi", []int{DemoDeptSales}) },
		func() error { return e.sim.SetMemberTags(DemoCorpID, "lisi", []int{DemoTagManagers}) },
		func() error { return e.sim.RemoveMember(DemoCorpID, "lisi") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 5 {
		t.Fatalf("hook calls = %d, want 5", len(got))
	}
	want := []string{"status", "visibility", "departments", "tags", "removed"}
	for i, ch := range got {
		if ch.What != want[i] || ch.UserID != "lisi" || ch.CorpID != DemoCorpID {
			t.Errorf("change %d = %+v, want %s", i, ch, want[i])
		}
	}
	if got[0].Before.Status != 1 || got[0].After.Status != 5 {
		t.Errorf("status change = %+v", got[0])
	}
	if !got[1].Before.VisibleToApp(DemoAgentID) || got[1].After.VisibleToApp(DemoAgentID) {
		t.Errorf("visibility change = %+v", got[1])
	}
	if !slices.Equal(got[3].Before.Tags, []int{DemoTagOnCall}) || !slices.Equal(got[3].After.Tags, []int{DemoTagManagers}) {
		t.Errorf("tags change = %+v", got[3])
	}
	if got[4].After.Exists || !got[4].Before.Exists {
		t.Errorf("removal = %+v", got[4])
	}
	if err := e.sim.SetMemberStatus(DemoCorpID, "nobody", 1); err == nil {
		t.Error("status of an unknown member: no error")
	}
}
