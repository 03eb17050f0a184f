package directory_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// refreshWorld is the demo corp in a simulator, an authenticator pointing at it and every demo
// member bound to a user of their own.
type refreshWorld struct {
	sim   *wecomtest.Sim
	store *models.Store
	a     models.Authenticator
	r     *directory.Refresher
	now   *time.Time
	mu    *sync.Mutex
}

func newRefreshWorld(t *testing.T, st *models.Store) refreshWorld {
	t.Helper()
	ctx := context.Background()
	sim, srv := wecomtest.NewServer(t)
	if err := sim.Apply(wecomtest.DemoSeed()); err != nil {
		t.Fatal(err)
	}
	a := models.Authenticator{Name: "demo", Type: models.TypeWeCom, Title: "WeCom", Enabled: true,
		Options: models.AuthenticatorOptions{CorpID: wecomtest.DemoCorpID, AgentID: wecomtest.DemoAgentID}}
	if err := st.CreateAuthenticator(ctx, &a); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi"} {
		u := models.User{Username: id}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: id, CorpID: a.Options.CorpID}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := wecom.Config{APIBase: srv.URL, CorpID: wecomtest.DemoCorpID, AgentID: wecomtest.DemoAgentID, Secret: wecomtest.DemoSecret}
	r := &directory.Refresher{Store: st, WeCom: wecom.NewClient(srv.Client(), nil), Members: &directory.Members{Store: st, Now: clock, Log: log},
		Config: func(models.Authenticator) (wecom.Config, error) { return cfg, nil }, Now: clock, Log: log}
	return refreshWorld{sim: sim, store: st, a: a, r: r, now: &now, mu: &mu}
}

func (w refreshWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.now = w.now.Add(d)
}

// TestRefreshSweep: Refresh (the sweep's entry point) records departments with their ancestors and
// tags, cuts off a member WeCom reports gone and lets a suspended member back when WeCom reports them
// active or not activated again, audited once each.
func TestRefreshSweep(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		w := newRefreshWorld(t, st)
		res, err := w.r.Refresh(ctx, w.a, "zhangsan")
		if err != nil || res.Gone {
			t.Fatalf("refresh = %+v, %v", res, err)
		}
		m := res.Member
		if !slices.Equal(m.Departments, []int64{wecomtest.DemoDeptBackend}) ||
			!slices.Equal(m.Ancestry, []int64{wecomtest.DemoDeptBackend, wecomtest.DemoDeptRD, 1}) ||
			!slices.Equal(m.Tags, []int64{wecomtest.DemoTagManagers, wecomtest.DemoTagOnCall}) || m.Status != models.MemberActive {
			t.Errorf("zhangsan = %+v", m)
		}
		if _, err := w.r.Refresh(ctx, w.a, "nobody"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unbound userid: %v, want ErrNotFound", err)
		}

		// Gone (disabled in the seed), then back when WeCom says not activated.
		res, err = w.r.Refresh(ctx, w.a, "zhaoliu")
		if err != nil || !res.Gone || res.Member.SuspendedAt == nil || res.Member.Status != models.MemberDisabled {
			t.Fatalf("disabled member = %+v, %v", res, err)
		}
		w.sim.SetMemberStatus(wecomtest.DemoCorpID, "zhaoliu", 4)
		res, err = w.r.Refresh(ctx, w.a, "zhaoliu")
		if err != nil || res.Gone || !res.Change.Changed || res.Member.SuspendedAt != nil || res.Member.Status != models.MemberNotActive {
			t.Fatalf("back again = %+v, %v", res, err)
		}
		if u, _ := st.UserByUsername(ctx, "zhaoliu"); u.Disabled {
			t.Error("user still disabled after coming back")
		}
		for action, want := range map[string]int64{directory.ActionMemberLeft: 1, directory.ActionMemberBack: 1} {
			if n, _ := st.CountEvents(ctx, action, time.Time{}); n != want {
				t.Errorf("%s events = %d, want %d", action, n, want)
			}
		}

		// A cut-off landing while a refresh is under way is never undone by the refresh's write.
		if _, err := w.r.Members.Left(ctx, w.a, "zhangsan", models.MemberLeft, directory.SourceEvent); err != nil {
			t.Fatal(err)
		}
		b, _ := st.BindingBySubject(ctx, w.a.ID, "zhangsan")
		stale := models.DirectoryMember{BindingID: b.ID, AuthenticatorID: w.a.ID, UserID: b.UserID, Status: models.MemberActive, RefreshedAt: time.Now()}
		if err := st.SaveDirectoryFacts(ctx, &stale); err != nil {
			t.Fatal(err)
		}
		if m, _, _ := st.DirectoryMemberOf(ctx, b.ID); m.SuspendedAt == nil || m.Status != models.MemberLeft {
			t.Errorf("a late refresh write lifted the suspension: %+v", m)
		}
	})
}

// TestRefreshTreeCache: many refreshes at once fetch the tree once; a stale tree is used while one
// fetch replaces it; a failing WeCom is not asked again at once and the last facts stay.
func TestRefreshTreeCache(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		w := newRefreshWorld(t, st)
		w.sim.SetLatency(20 * time.Millisecond) // so the refreshes overlap
		var wg sync.WaitGroup
		for range 20 {
			for _, id := range []string{"zhangsan", "lisi"} {
				wg.Go(func() {
					if _, err := w.r.Refresh(ctx, w.a, id); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		w.sim.SetLatency(0)
		for endpoint, want := range map[string]int{"department/simplelist": 1, "tag/list": 1, "department/get": 6, "tag/get": 2, "user/get": 40} {
			if got := w.sim.Calls(endpoint); got != want {
				t.Errorf("%s calls = %d, want %d", endpoint, got, want)
			}
		}

		// Stale: served at once, replaced by one fetch in the background.
		w.sim.SetMemberTags(wecomtest.DemoCorpID, "lisi", []int{wecomtest.DemoTagManagers})
		w.advance(directory.DefaultTreeTTL + time.Second)
		res, err := w.r.Refresh(ctx, w.a, "lisi")
		if err != nil || !slices.Equal(res.Member.Tags, []int64{wecomtest.DemoTagOnCall}) {
			t.Errorf("refresh on a stale tree = %v, %v; want the stale tags at once", res.Member.Tags, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for w.sim.Calls("tag/list") < 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		var tags []int64
		for time.Now().Before(deadline) {
			res, err = w.r.Refresh(ctx, w.a, "lisi")
			if tags = res.Member.Tags; err == nil && slices.Equal(tags, []int64{wecomtest.DemoTagManagers}) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !slices.Equal(tags, []int64{wecomtest.DemoTagManagers}) {
			t.Errorf("tags after the background fetch = %v", tags)
		}

		// WeCom fails the tree: the refresh reports it, keeps the last facts, and the next refreshes
		// do not ask for the tree again for a while.
		w.r.Forget(w.a.ID)
		w.sim.FailNext("department/simplelist", 1, 45009)
		before := w.sim.Calls("department/simplelist")
		_, err = w.r.Refresh(ctx, w.a, "lisi")
		if !errors.Is(err, wecom.ErrRateLimited) || !errors.Is(err, directory.ErrNotRefreshed) {
			t.Errorf("refresh with the tree rate limited: %v", err)
		}
		if _, err := w.r.Refresh(ctx, w.a, "lisi"); err == nil {
			t.Error("refresh right after a failed fetch: no error")
		}
		if got := w.sim.Calls("department/simplelist") - before; got != 1 {
			t.Errorf("simplelist calls after a failure = %d, want 1", got)
		}
		b, _ := st.BindingBySubject(ctx, w.a.ID, "lisi")
		if m, _, _ := st.DirectoryMemberOf(ctx, b.ID); !slices.Equal(m.Tags, []int64{wecomtest.DemoTagManagers}) {
			t.Errorf("facts after a failed refresh = %+v", m)
		}
		w.advance(time.Minute)
		if _, err := w.r.Refresh(ctx, w.a, "lisi"); err != nil {
			t.Errorf("refresh after the pause: %v", err)
		}
	})
}
