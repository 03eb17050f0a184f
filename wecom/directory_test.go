package wecom_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestDirectoryReads: the client's department and tag calls against the simulator, limited to the
// app's visible range as wecom-directory.md §2–§3 say.
func TestDirectoryReads(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	refs, err := e.client.DepartmentIDs(ctx, e.cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range refs {
		ids = append(ids, r.ID)
		if r.ID == wecomtest.DemoDeptBackend && r.ParentID != wecomtest.DemoDeptRD {
			t.Errorf("backend's parent = %d, want R&D", r.ParentID)
		}
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("whole tree = %v", ids)
	}
	sub, err := e.client.DepartmentIDs(ctx, e.cfg, wecomtest.DemoDeptRD)
	if err != nil || len(sub) != 3 {
		t.Errorf("R&D subtree = %v, %v; want R&D and its two teams", sub, err)
	}
	d, err := e.client.Department(ctx, e.cfg, wecomtest.DemoDeptBackend)
	if err != nil || d.Name != "后端组" || d.ParentID != wecomtest.DemoDeptRD {
		t.Errorf("department/get = %+v, %v", d, err)
	}
	if _, err := e.client.Department(ctx, e.cfg, 99); wecom.CodeOf(err) != 60003 {
		t.Errorf("unknown department: %v, want 60003", err)
	}

	// Only R&D's subtree visible: the root and the other departments vanish; R&D keeps parentid 1,
	// which is missing from the list (a parent outside the visible range).
	if err := e.sim.SetVisibleRange(wecomtest.DemoCorpID, wecomtest.DemoAgentID, []int{wecomtest.DemoDeptRD}); err != nil {
		t.Fatal(err)
	}
	refs, err = e.client.DepartmentIDs(ctx, e.cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, r := range refs {
		ids = append(ids, r.ID)
		if r.ID == wecomtest.DemoDeptRD && r.ParentID != 1 {
			t.Errorf("R&D parent = %d, want 1 (invisible)", r.ParentID)
		}
	}
	if !slices.Equal(ids, []int64{2, 3, 4}) {
		t.Errorf("visible tree = %v, want [2 3 4]", ids)
	}
	if _, err := e.client.Department(ctx, e.cfg, 1); wecom.CodeOf(err) != 60011 {
		t.Errorf("invisible department: %v, want 60011", err)
	}
	if _, err := e.client.DepartmentIDs(ctx, e.cfg, wecomtest.DemoDeptSales); wecom.CodeOf(err) != 60011 {
		t.Errorf("simplelist of an invisible department: %v, want 60011", err)
	}
	m, err := e.client.User(ctx, e.cfg, "zhangsan")
	if err != nil || !slices.Equal(m.Department, []int{wecomtest.DemoDeptBackend}) {
		t.Errorf("user/get departments = %v, %v", m.Department, err)
	}
	m, err = e.client.User(ctx, e.cfg, "sunqi") // in Marketing, now outside the range
	if err != nil || len(m.Department) != 0 {
		t.Errorf("user/get of a member in an invisible department = %v, %v; want []", m.Department, err)
	}

	tags, err := e.client.Tags(ctx, e.cfg)
	if err != nil || len(tags) != 2 || tags[0].Name != "管理层" {
		t.Errorf("tag/list = %+v, %v", tags, err)
	}
	if err := e.sim.SetMemberVisibleTo(wecomtest.DemoCorpID, "lisi", []int64{999}); err != nil {
		t.Fatal(err)
	}
	tm, err := e.client.TagMembers(ctx, e.cfg, wecomtest.DemoTagOnCall)
	if err != nil || tm.Name != "值班" || len(tm.Users) != 1 || tm.Users[0].UserID != "zhangsan" {
		t.Errorf("tag/get = %+v, %v; want zhangsan only (lisi is outside the visible range)", tm, err)
	}
	if _, err := e.client.TagMembers(ctx, e.cfg, 77); wecom.CodeOf(err) != 40068 {
		t.Errorf("unknown tag: %v, want 40068", err)
	}
}

// TestMemberUnavailableErrors: user/get's statuses come through, and 60111, 60011 and 40003 are typed
// as "member unavailable", none of the others (46004 included: not a documented user/get answer).
func TestMemberUnavailableErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, status := range []int{1, 2, 4, 5} {
		if err := e.sim.SetMemberStatus(wecomtest.DemoCorpID, "lisi", status); err != nil {
			t.Fatal(err)
		}
		m, err := e.client.User(ctx, e.cfg, "lisi")
		if err != nil || m.Status != status {
			t.Errorf("status %d: got %+v, %v", status, m, err)
		}
	}
	if err := e.sim.RemoveMember(wecomtest.DemoCorpID, "sunqi"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		userid string
		code   int
		inject bool
	}{
		{"sunqi", 60111, false},  // removed
		{"wangwu", 60011, false}, // outside the visible range
		{"lisi", 40003, true},    // removed after leaving
	} {
		if tc.inject {
			e.sim.FailNext("user/get", 1, tc.code)
		}
		_, err := e.client.User(ctx, e.cfg, tc.userid)
		if wecom.CodeOf(err) != tc.code || !errors.Is(err, wecom.ErrMemberUnavailable) || errors.Is(err, wecom.ErrRateLimited) {
			t.Errorf("%s: %v, want %d typed as member unavailable", tc.userid, err, tc.code)
		}
	}
	for _, code := range []int{-1, 40014, 60020, 46004} {
		if errors.Is(&wecom.Error{Code: code}, wecom.ErrMemberUnavailable) {
			t.Errorf("errcode %d typed as member unavailable", code)
		}
	}
}

// TestRateLimitErrors: the simulator's 45009 and 45033 knobs reach the caller as ErrRateLimited, and a
// run of them opens the breaker like other WeCom trouble.
func TestRateLimitErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.sim.SetRateLimit("tag/list", 2)
	for i := range 3 {
		_, err := e.client.Tags(ctx, e.cfg)
		if limited := errors.Is(err, wecom.ErrRateLimited); limited != (i == 2) {
			t.Errorf("call %d: %v (rate limited %v)", i+1, err, limited)
		}
	}
	e.clock.Advance(time.Minute)
	if _, err := e.client.Tags(ctx, e.cfg); err != nil {
		t.Errorf("after a minute: %v", err)
	}

	e.sim.SetConcurrencyLimit(1)
	e.sim.SetLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.client.Department(ctx, e.cfg, 1) })
	}
	wg.Wait()
	var limited int
	for _, err := range errs {
		if wecom.CodeOf(err) == 45033 && errors.Is(err, wecom.ErrRateLimited) {
			limited++
		}
	}
	if limited == 0 || limited == len(errs) {
		t.Errorf("45033 answers = %d of %d, want some but not all", limited, len(errs))
	}
	e.sim.SetLatency(0)
	e.sim.SetConcurrencyLimit(0)

	client := wecom.NewClient(e.srv.Client(), wecom.NewMemoryCacheWithClock(e.clock.Now), wecom.WithBreaker(wecom.BreakerSettings{Threshold: 3, Now: e.clock.Now}))
	e.sim.FailNext("department/get", 3, 45033)
	for range 3 {
		client.Department(ctx, e.cfg, 1)
	}
	if _, err := client.Department(ctx, e.cfg, 1); wecom.CodeOf(err) != wecom.CodeBreakerOpen {
		t.Errorf("after three 45033: %v, want the breaker open", err)
	}
}
