package directory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/securitytest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

const (
	sweepCorp  = "wwsweep"
	sweepAgent = 1000002
)

// fakeClock is the sweep's clock: Sleep moves it on at once, so pacing is measured without waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// countingReader counts the calls per userid that reach WeCom, and when, on the sweep's clock.
type countingReader struct {
	next   directory.MemberReader
	now    func() time.Time
	before func(n int) // runs before the n-th call (1-based)
	after  func(n int) // runs after it

	mu    sync.Mutex
	n     int
	calls map[string]int
	times []time.Time
}

func (r *countingReader) MemberStatus(ctx context.Context, a models.Authenticator, userid string) (int, error) {
	r.mu.Lock()
	r.n++
	n := r.n
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[userid]++
	r.times = append(r.times, r.now())
	r.mu.Unlock()
	if r.before != nil {
		r.before(n)
	}
	status, err := r.next.MemberStatus(ctx, a, userid)
	if r.after != nil {
		r.after(n)
	}
	return status, err
}

func (r *countingReader) count(userid string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[userid]
}

func (r *countingReader) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// failingTransport makes the calls for some userids fail before WeCom answers: a network error, or
// an HTTP status other than 200.
type failingTransport struct {
	next   http.RoundTripper
	status map[string]int // userid → HTTP status; 0: connection error
}

func (t failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if code, ok := t.status[r.URL.Query().Get("userid")]; ok {
		if code == 0 {
			return nil, errors.New("connection reset by peer")
		}
		return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("bad gateway")), Header: http.Header{}, Request: r}, nil
	}
	return t.next.RoundTrip(r)
}

type sweepEnv struct {
	st      *models.Store
	sim     *wecomtest.Sim
	a       models.Authenticator
	clock   *fakeClock
	members *directory.Members
	reader  *countingReader
	log     *slog.Logger
}

func newSweepEnv(t *testing.T, st *models.Store, failing map[string]int) *sweepEnv {
	t.Helper()
	ctx := context.Background()
	sim, srv := wecomtest.NewServer(t)
	if err := sim.AddCorp(wecomtest.Corp{ID: sweepCorp, Name: "Sweep", Apps: []wecomtest.App{{AgentID: sweepAgent, Secret: "app-secret"}, {AgentID: 7, Secret: "other"}}}); err != nil {
		t.Fatal(err)
	}
	a := models.Authenticator{Name: "corp", Type: models.TypeWeCom, Title: "WeCom", Enabled: true,
		Options: models.AuthenticatorOptions{CorpID: sweepCorp, AgentID: sweepAgent}}
	if err := st.CreateAuthenticator(ctx, &a); err != nil {
		t.Fatal(err)
	}
	httpClient := &http.Client{Transport: failingTransport{next: http.DefaultTransport, status: failing}}
	clock := &fakeClock{t: time.Now().UTC()}
	client := wecom.NewClient(httpClient, nil, wecom.WithBreaker(wecom.BreakerSettings{Now: clock.Now}))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	members := &directory.Members{Store: st, Now: clock.Now, Log: log}
	refresher := &directory.Refresher{Store: st, WeCom: client, Members: members, Now: clock.Now, Log: log,
		Config: func(a models.Authenticator) (wecom.Config, error) {
			secret := "app-secret"
			if a.Options.AgentID == 7 {
				secret = "other"
			}
			return wecom.Config{APIBase: srv.URL, CorpID: a.Options.CorpID, AgentID: a.Options.AgentID, Secret: secret}, nil
		}}
	reader := &countingReader{now: clock.Now, next: directory.RefreshReader{Refresher: refresher}}
	return &sweepEnv{st: st, sim: sim, a: a, clock: clock, reader: reader, log: log, members: members}
}

// bind adds a user bound to userid with a live session; with inSim the member exists in WeCom with
// that status (hidden: outside the app's visible range).
func (e *sweepEnv) bind(t *testing.T, userid string, status int, inSim, hidden bool) models.User {
	t.Helper()
	ctx := context.Background()
	if inSim {
		m := wecomtest.Member{UserID: userid, Name: userid, Status: status}
		if hidden {
			m.VisibleTo = []int64{7}
		}
		if err := e.sim.AddMember(sweepCorp, m); err != nil {
			t.Fatal(err)
		}
	}
	u := models.User{Username: "u-" + strings.NewReplacer(" ", "-").Replace(userid)}
	if err := e.st.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: e.a.ID, Subject: userid, CorpID: sweepCorp}); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.st.CreateSession(ctx, &models.Session{ID: u.Username + "-s", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *sweepEnv) sweeper(opts directory.SweepOptions) *directory.Sweeper {
	if opts.Now == nil {
		opts.Now, opts.Sleep = e.clock.Now, e.clock.Sleep
	}
	if opts.Rate == 0 {
		opts.Rate, opts.Burst = 1000, 1000
	}
	return directory.NewSweeper(e.st, e.members, e.reader, time.Hour, e.log, opts)
}

func (e *sweepEnv) sessionAlive(t *testing.T, u models.User) bool {
	t.Helper()
	_, _, err := e.st.ActiveSession(context.Background(), u.Username+"-s", e.clock.Now())
	return err == nil
}

func (e *sweepEnv) suspended(t *testing.T, u models.User) bool {
	t.Helper()
	list, err := e.st.UserDirectoryMembers(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(list) == 1 && list[0].SuspendedAt != nil
}

func latestRound(t *testing.T, st *models.Store) models.DirectorySweepRound {
	t.Helper()
	r, err := st.LatestSweepRound(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSecuritySweepCutsOffLeavers: a round cuts off every member WeCom reports left (5), disabled (2) or
// no longer available (60111, 60011, 40003), lets back a suspended member WeCom reports active again,
// and leaves the others and their sessions alone. The next round starts an interval after this one.
func TestSecuritySweepCutsOffLeavers(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		e := newSweepEnv(t, st, nil)
		type member struct {
			attack        string
			userid        string
			status        int
			inSim, hidden bool
			want          string
		}
		const (
			cutOff    = "cut off: binding suspended, session ended, user disabled"
			leftAlone = "left alone: session live"
			letBack   = "let back: binding restored, user enabled"
		)
		cases := []member{
			{"sweep finds an active member", "alice", models.MemberActive, true, false, leftAlone},
			{"sweep finds a member who left the company (status 5)", "left5", models.MemberLeft, true, false, cutOff},
			{"sweep finds a member disabled in WeCom (status 2)", "disabled2", models.MemberDisabled, true, false, cutOff},
			{"sweep finds a deleted member (user/get 60111)", "deleted60111", 0, false, false, cutOff},
			{"sweep finds a member outside the visible range (user/get 60011)", "hidden60011", models.MemberActive, true, true, cutOff},
			{"sweep finds a userid WeCom calls invalid (user/get 40003)", "bad userid", 0, false, false, cutOff},
			{"sweep finds a member not yet activated (status 4)", "pending4", models.MemberNotActive, true, false, leftAlone},
			{"sweep finds a cut-off member active again", "returning", models.MemberActive, true, false, letBack},
		}
		users := map[string]models.User{}
		for _, c := range cases {
			users[c.userid] = e.bind(t, c.userid, c.status, c.inSim, c.hidden)
		}
		// A binding made while the authenticator pointed at another corp: that corp's member is not this
		// corp's, so this corp's "no such userid" must not cut them off.
		oldCorp := models.User{Username: "u-oldcorp"}
		if err := st.CreateUser(ctx, &oldCorp); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateBinding(ctx, &models.Binding{UserID: oldCorp.ID, AuthenticatorID: e.a.ID, Subject: "oldcorp", CorpID: "wwformer"}); err != nil {
			t.Fatal(err)
		}
		// "returning" was cut off earlier (an unsubscribe event, say) and is active in WeCom again.
		if _, err := e.members.Left(ctx, e.a, "returning", models.MemberLeft, directory.SourceEvent); err != nil {
			t.Fatal(err)
		}

		sw := e.sweeper(directory.SweepOptions{PageSize: 2})
		if err := sw.Step(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			u := users[c.userid]
			got, _ := st.UserByID(ctx, u.ID)
			suspended, alive := e.suspended(t, u), e.sessionAlive(t, u)
			observed := fmt.Sprintf("suspended %v, session live %v, user disabled %v", suspended, alive, got.Disabled)
			switch {
			case suspended && !alive && got.Disabled:
				observed = cutOff
			case !suspended && alive && !got.Disabled:
				observed = leftAlone
			case c.userid == "returning" && !suspended && !got.Disabled:
				observed = letBack
			}
			securitytest.Report(t, c.attack, c.want, observed)
			if e.reader.count(c.userid) != 1 {
				t.Errorf("%s: called %d times, want 1", c.userid, e.reader.count(c.userid))
			}
		}
		observed := "not asked, left alone"
		if e.reader.count("oldcorp") > 0 || e.suspended(t, oldCorp) {
			observed = fmt.Sprintf("asked %d times, suspended %v", e.reader.count("oldcorp"), e.suspended(t, oldCorp))
		}
		securitytest.Report(t, "sweep meets a binding made in the authenticator's former corp", "not asked, left alone", observed)
		r := latestRound(t, st)
		if r.FinishedAt == nil || r.MembersChecked != 8 || r.MembersLeft != 5 || r.MembersBack != 1 || r.MembersFailed != 0 {
			t.Errorf("round = %+v, want finished, 8 checked, 5 left, 1 back, 0 failed", r)
		}
		rows, err := st.ListAudit(ctx, models.AuditFilter{Action: directory.ActionMemberLeft}, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		sweepRows := 0
		for _, ev := range rows.Events {
			if strings.Contains(fmt.Sprint(ev.Detail), directory.SourceSweep) {
				sweepRows++
			}
		}
		if sweepRows != 5 {
			t.Errorf("member_left audit rows from the sweep = %d, want 5", sweepRows)
		}

		// Not due again before the interval; due after it, and then a leaver already cut off stays so
		// without counting as left again.
		e.clock.Advance(30 * time.Minute)
		if err := sw.Step(ctx); err != nil || e.reader.total() != 8 {
			t.Fatalf("a step before the interval called WeCom: %d calls, %v", e.reader.total(), err)
		}
		e.clock.Advance(31 * time.Minute)
		if err := sw.Step(ctx); err != nil {
			t.Fatal(err)
		}
		r2 := latestRound(t, st)
		if r2.ID == r.ID || r2.FinishedAt == nil || r2.MembersChecked != 8 || r2.MembersLeft != 0 || r2.MembersBack != 0 || e.reader.total() != 16 {
			t.Errorf("second round = %+v after %d calls; want a new finished round, 8 checked, none left or back, 16 calls", r2, e.reader.total())
		}
	})
}

// TestSecuritySweepFailureCutsNobodyOff: a network error, an HTTP 5xx, a busy WeCom or an unknown
// status for one member cuts nobody off; the round goes on and counts the failures.
func TestSecuritySweepFailureCutsNobodyOff(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		e := newSweepEnv(t, st, map[string]int{"netfail": 0, "gateway": http.StatusBadGateway, "unavailable": http.StatusServiceUnavailable})
		names := []string{"before", "netfail", "gateway", "unavailable", "odd", "after"}
		users := map[string]models.User{}
		for _, n := range names {
			status := models.MemberActive
			if n == "odd" {
				status = 3 // a status WeCom does not document
			}
			users[n] = e.bind(t, n, status, true, false)
		}
		if err := e.sweeper(directory.SweepOptions{}).Step(ctx); err != nil {
			t.Fatal(err)
		}
		attacks := map[string]string{
			"before": "sweep reads an active member before the failures", "netfail": "WeCom unreachable (connection reset) for one member",
			"gateway": "WeCom answers HTTP 502 for one member", "unavailable": "WeCom answers HTTP 503 for one member",
			"odd": "WeCom answers an undocumented status for one member", "after": "sweep reads an active member after the failures",
		}
		for _, n := range names {
			u, _ := st.UserByID(ctx, users[n].ID)
			observed := "nobody cut off"
			if e.suspended(t, users[n]) || !e.sessionAlive(t, users[n]) || u.Disabled {
				observed = "member cut off"
			}
			securitytest.Report(t, attacks[n], "nobody cut off", observed)
		}
		r := latestRound(t, st)
		if r.FinishedAt == nil || r.MembersChecked != 2 || r.MembersFailed != 4 || r.MembersLeft != 0 {
			t.Errorf("round = %+v, want finished, 2 checked, 4 failed, 0 left", r)
		}
	})
}

// TestSweepPacing: the sweep never calls WeCom faster than its rate (with its burst), measured on the
// sweep's own clock.
func TestSweepPacing(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		e := newSweepEnv(t, st, nil)
		const n, rate, burst = 60, 10, 3
		for i := range n {
			e.bind(t, fmt.Sprintf("m%02d", i), models.MemberActive, true, false)
		}
		start := e.clock.Now()
		if err := e.sweeper(directory.SweepOptions{Rate: rate, Burst: burst, PageSize: 7}).Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.reader.total() != n {
			t.Fatalf("calls = %d, want %d", e.reader.total(), n)
		}
		// Any one-second window holds at most rate+burst calls, and the whole round takes at least
		// (n-burst)/rate seconds.
		times := e.reader.times
		for i := range times {
			in := 0
			for _, u := range times[i:] {
				if u.Sub(times[i]) < time.Second {
					in++
				}
			}
			if in > rate+burst {
				t.Fatalf("%d calls within a second from call %d, want at most %d", in, i, rate+burst)
			}
		}
		took := times[len(times)-1].Sub(start)
		if want := time.Duration(float64(n-burst) / rate * float64(time.Second)); took < want-time.Millisecond || took > want+time.Second {
			t.Errorf("%d calls took %v on the sweep's clock, want about %v", n, took, want)
		}
	})
}

// TestSweepBacksOffWhenThrottled: 45009 or 45033 stops the round for the corp without counting or
// cutting off anyone; the round resumes after the pause with the member WeCom refused, and each member
// gets exactly one answered call.
func TestSweepBacksOffWhenThrottled(t *testing.T) {
	for _, code := range []int{45009, 45033} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, st *models.Store) {
				ctx := context.Background()
				e := newSweepEnv(t, st, nil)
				const n = 8
				for i := range n {
					e.bind(t, fmt.Sprintf("m%d", i), models.MemberActive, true, false)
				}
				e.reader.before = func(k int) {
					if k == 4 {
						e.sim.FailNext("user/get", 1, code)
					}
				}
				sw := e.sweeper(directory.SweepOptions{})
				if err := sw.Step(ctx); err != nil {
					t.Fatal(err)
				}
				r := latestRound(t, st)
				if r.FinishedAt != nil || r.MembersChecked != 3 || r.MembersFailed != 0 || e.reader.total() != 4 {
					t.Fatalf("after the refusal: round %+v, %d calls; want unfinished, 3 checked, 4 calls", r, e.reader.total())
				}
				// Still paused half a minute later: no call.
				e.clock.Advance(30 * time.Second)
				if err := sw.Step(ctx); err != nil || e.reader.total() != 4 {
					t.Fatalf("a paused corp was called: %d calls, %v", e.reader.total(), err)
				}
				e.clock.Advance(31 * time.Second)
				if err := sw.Step(ctx); err != nil {
					t.Fatal(err)
				}
				r = latestRound(t, st)
				if r.FinishedAt == nil || r.MembersChecked != n || e.reader.total() != n+1 {
					t.Errorf("after the pause: round %+v, %d calls; want finished, %d checked, %d calls", r, e.reader.total(), n, n+1)
				}
				if e.reader.count("m3") != 2 || e.reader.count("m4") != 1 {
					t.Errorf("calls of m3 (refused, then read) = %d, of m4 = %d", e.reader.count("m3"), e.reader.count("m4"))
				}
			})
		})
	}
}

// TestSweepResumes: a sweep stopped after some members continues, in a new process, with the next
// member; no member is called twice in one round.
func TestSweepResumes(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		e := newSweepEnv(t, st, nil)
		const n, stopAfter = 10, 4
		for i := range n {
			e.bind(t, fmt.Sprintf("m%d", i), models.MemberActive, true, false)
		}
		ctx, stop := context.WithCancel(context.Background())
		e.reader.after = func(k int) {
			if k == stopAfter {
				stop() // shutdown begins while the 4th call is answered
			}
		}
		if err := e.sweeper(directory.SweepOptions{PageSize: 3}).Step(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped step = %v, want context.Canceled", err)
		}
		r := latestRound(t, st)
		if r.FinishedAt != nil || r.MembersChecked != stopAfter || e.reader.total() != stopAfter {
			t.Fatalf("after the stop: round %+v, %d calls; want unfinished with %d checked", r, e.reader.total(), stopAfter)
		}
		e.reader.after = nil
		e.clock.Advance(time.Minute)
		if err := e.sweeper(directory.SweepOptions{PageSize: 3}).Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		r2 := latestRound(t, st)
		if r2.ID != r.ID || r2.FinishedAt == nil || r2.MembersChecked != n {
			t.Errorf("resumed round = %+v, want round %d finished with %d checked", r2, r.ID, n)
		}
		for i := range n {
			if c := e.reader.count(fmt.Sprintf("m%d", i)); c != 1 {
				t.Errorf("m%d called %d times, want 1", i, c)
			}
		}
	})
}

// TestSweepLease: one holder at a time; the holder renews; an expired lease passes to another, and the
// old holder's renewal then fails.
func TestSweepLease(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		steps := []struct {
			holder string
			at     time.Duration
			want   bool
		}{
			{"a", 0, true},
			{"b", time.Second, false},
			{"a", 10 * time.Second, true}, // renewal: now until 40 s
			{"b", 35 * time.Second, false},
			{"b", 41 * time.Second, true}, // a stalled: expired
			{"a", 42 * time.Second, false},
		}
		for _, s := range steps {
			at := now.Add(s.at)
			got, err := st.AcquireLease(ctx, "l", s.holder, at, at.Add(30*time.Second))
			if err != nil || got != s.want {
				t.Fatalf("%s at %v: got %v (%v), want %v", s.holder, s.at, got, err, s.want)
			}
		}
		if err := st.ReleaseLease(ctx, "l", "a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.AcquireLease(ctx, "l", "a", now.Add(43*time.Second), now.Add(time.Minute)); got {
			t.Error("a release by a non-holder freed the lease")
		}
		if err := st.ReleaseLease(ctx, "l", "b"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.AcquireLease(ctx, "l", "a", now.Add(44*time.Second), now.Add(time.Minute)); !got {
			t.Error("a released lease could not be taken")
		}
	})
}

// TestSweepOneInstanceInFleet: two instances on one database sweeping at the same moment call each
// member once between them (PostgreSQL when TEST_DATABASE_URL is set; SQLite: two processes' pools on
// one file).
func TestSweepOneInstanceInFleet(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) { sweepFleet(t, dialect) })
	}
}

func sweepFleet(t *testing.T, dialect string) {
	opts := models.Options{SQLitePath: filepath.Join(t.TempDir(), "fleet.db")}
	if dialect == "postgres" {
		opts = models.Options{DatabaseURL: modelstest.SchemaURL(t), MaxOpenConns: 5}
	}
	open := func() *models.Store {
		st, err := models.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st1, st2 := open(), open()
	e := newSweepEnv(t, st1, nil)
	const n = 30
	for i := range n {
		e.bind(t, fmt.Sprintf("m%02d", i), models.MemberActive, true, false)
	}
	e.sim.SetLatency(2 * time.Millisecond) // both steps overlap
	real := directory.SweepOptions{Rate: 1000, Burst: 1000, Now: func() time.Time { return time.Now().UTC() }, Sleep: e.clock.Sleep}
	one := e.sweeper(real)
	two := directory.NewSweeper(st2, &directory.Members{Store: st2, Now: e.clock.Now, Log: e.log}, e.reader, time.Hour, e.log, real)
	for range 3 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, sw := range []*directory.Sweeper{one, two} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = sw.Step(context.Background()) }()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("steps: %v, %v", errs[0], errs[1])
		}
	}
	if e.reader.total() != n {
		t.Errorf("%d calls for %d members, want one each", e.reader.total(), n)
	}
	for i := range n {
		if c := e.reader.count(fmt.Sprintf("m%02d", i)); c != 1 {
			t.Errorf("m%02d called %d times", i, c)
		}
	}
	if r := latestRound(t, st2); r.FinishedAt == nil || r.MembersChecked != n {
		t.Errorf("round = %+v, want finished with %d checked", r, n)
	}
}

// TestSweepOff: an interval of 0 never calls WeCom, and Run returns at once.
func TestSweepOff(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		e := newSweepEnv(t, st, nil)
		e.bind(t, "gone", models.MemberLeft, true, false)
		sw := directory.NewSweeper(st, e.members, e.reader, 0, e.log, directory.SweepOptions{})
		done := make(chan struct{})
		go func() { sw.Run(context.Background(), make(chan time.Time)); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Run with the sweep off did not return")
		}
		if err := sw.Step(context.Background()); err != nil || e.reader.total() != 0 {
			t.Errorf("sweep off: %d calls, %v", e.reader.total(), err)
		}
	})
}

// TestSweepRunTicks: Run sweeps at once, then at each tick, and stops with its context.
func TestSweepRunTicks(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		e := newSweepEnv(t, st, nil)
		e.bind(t, "m", models.MemberActive, true, false)
		sw := e.sweeper(directory.SweepOptions{})
		ctx, stop := context.WithCancel(context.Background())
		ticks := make(chan time.Time)
		done := make(chan struct{})
		go func() { sw.Run(ctx, ticks); close(done) }()
		waitFor := func(calls int) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); e.reader.total() < calls; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("calls = %d, want %d", e.reader.total(), calls)
				}
			}
		}
		waitFor(1)
		e.clock.Advance(time.Hour)
		ticks <- time.Now()
		waitFor(2)
		stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop with its context")
		}
	})
}

// TestSweepStopsWhenLeaseLost: an instance that stalled past its lease stops at its next renewal once
// another instance took the lease, instead of sweeping beside it.
func TestSweepStopsWhenLeaseLost(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		e := newSweepEnv(t, st, nil)
		for i := range 6 {
			e.bind(t, fmt.Sprintf("m%d", i), models.MemberActive, true, false)
		}
		e.reader.after = func(k int) {
			if k == 3 { // a stall of 31 s, during which another instance takes the expired lease
				e.clock.Advance(31 * time.Second)
				now := e.clock.Now()
				if ok, err := st.AcquireLease(context.Background(), "directory-sweep", "other", now, now.Add(30*time.Second)); !ok || err != nil {
					t.Errorf("the other instance could not take the expired lease: %v, %v", ok, err)
				}
			}
		}
		err := e.sweeper(directory.SweepOptions{Holder: "stalled"}).Step(context.Background())
		if err == nil || !strings.Contains(err.Error(), "lease lost") || e.reader.total() != 3 {
			t.Fatalf("stalled step: %v after %d calls; want it stopped by the lost lease after 3", err, e.reader.total())
		}
		if r := latestRound(t, st); r.MembersChecked != 3 || r.FinishedAt != nil {
			t.Errorf("round = %+v, want 3 checked (the answered call is kept), unfinished", r)
		}
	})
}

// TestSecuritySweepWeComDown: when WeCom goes down, the failed calls cut nobody off, and once the
// client pauses calls to the corp (its breaker) the round pauses too instead of running through every
// member; it goes on after WeCom is back.
func TestSecuritySweepWeComDown(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		e := newSweepEnv(t, st, nil)
		var users []models.User
		for i := range 8 {
			users = append(users, e.bind(t, fmt.Sprintf("m%d", i), models.MemberLeft, true, false))
		}
		e.sim.SetDown(true)
		sw := e.sweeper(directory.SweepOptions{})
		if err := sw.Step(ctx); err != nil {
			t.Fatal(err)
		}
		cut := 0
		for _, u := range users {
			if e.suspended(t, u) || !e.sessionAlive(t, u) {
				cut++
			}
		}
		observed := "nobody cut off"
		if cut > 0 {
			observed = fmt.Sprintf("%d cut off", cut)
		}
		securitytest.Report(t, "WeCom down during a sweep round", "nobody cut off", observed)
		r := latestRound(t, st)
		if r.FinishedAt != nil || r.MembersFailed != 5 || r.MembersChecked != 0 || e.reader.total() != 6 {
			t.Fatalf("while down: round %+v after %d calls; want unfinished, 5 failed, then paused at the 6th", r, e.reader.total())
		}
		e.sim.SetDown(false)
		e.clock.Advance(61 * time.Second)
		if err := sw.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if r := latestRound(t, st); r.FinishedAt == nil || r.MembersChecked != 3 || r.MembersLeft != 3 {
			t.Errorf("after WeCom is back: round %+v, want finished with the other 3 read and cut off", r)
		}
	})
}

// TestSweepPausesWholeCorp: WeCom's limits are per corp, so when it throttles one app of a corp, the
// sweep of the corp's other app waits too, in this step and in the next ones, until the pause is over.
func TestSweepPausesWholeCorp(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		e := newSweepEnv(t, st, nil)
		second := models.Authenticator{Name: "corp-app2", Type: models.TypeWeCom, Title: "WeCom 2", Enabled: true,
			Options: models.AuthenticatorOptions{CorpID: sweepCorp, AgentID: 7}}
		if err := st.CreateAuthenticator(ctx, &second); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			u := e.bind(t, fmt.Sprintf("m%d", i), models.MemberActive, true, false)
			if err := st.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: second.ID, Subject: fmt.Sprintf("m%d", i), CorpID: sweepCorp}); err != nil {
				t.Fatal(err)
			}
		}
		e.sim.FailNext("user/get", 1, 45009)
		sw := e.sweeper(directory.SweepOptions{})
		for _, step := range []struct {
			advance time.Duration
			calls   int
		}{{0, 1}, {30 * time.Second, 1}, {31 * time.Second, 7}} {
			e.clock.Advance(step.advance)
			if err := sw.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if e.reader.total() != step.calls {
				t.Fatalf("after %v more: %d calls, want %d", step.advance, e.reader.total(), step.calls)
			}
		}
		if r := latestRound(t, st); r.FinishedAt == nil || r.MembersChecked != 6 {
			t.Errorf("round = %+v, want finished with both apps' 6 members checked", r)
		}
	})
}
