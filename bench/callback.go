package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/wecom/wecomtest"
)

// Targets of DESIGN.md §8 for the WeCom callback.
const (
	callbackMinRPS   = 2000
	callbackRPSConns = 50
	callbackMaxP99   = 15 * time.Millisecond
	callbackP99Conns = 10
)

// callbackScenario measures complete WeCom callback sign-ins of returning members (DESIGN.md §6 rule 4:
// binding → user) against the simulator, at -conns connections and at 10, interleaved round by round.
// See README.md.
func callbackScenario(ctx context.Context, o Options) (Result, error) {
	w, err := newWeComWorld(ctx, o, 1)
	if err != nil {
		return Result{}, fmt.Errorf("start: %w", err)
	}
	defer w.Close()
	g := w.gs[0]
	fmt.Fprintf(o.Progress, "seeding %d bound members on %s\n", o.Members, o.DB)
	t0 := time.Now()
	if err := w.seedBound(ctx, 0, o.Members); err != nil {
		return Result{}, fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(o.Progress, "seeded in %v\n", time.Since(t0).Round(time.Millisecond))

	// Operation n signs in member n mod Members, alternating the WeCom client and a desktop browser.
	var n atomic.Int64
	returning := func(ctx context.Context, c *http.Client) (time.Duration, time.Duration, error) {
		i := int(n.Add(1))
		return w.signIn(ctx, c, g, i%o.Members, i%2 == 0)
	}
	// With -mix f, a share f of the operations is a first sign-in by mobile match (rule 5) instead: a
	// fresh member and a user with the same mobile, unbound, are created first (untimed, counted in
	// setup), and the in-client flow's user_ticket reveals the mobile.
	var fresh atomic.Int64
	fresh.Store(int64(o.Members))
	mixed := func(ctx context.Context, c *http.Client) (time.Duration, time.Duration, error) {
		if rand.Float64() >= o.Mix {
			return returning(ctx, c)
		}
		i := int(fresh.Add(1))
		t0 := time.Now()
		if err := w.seedOne(ctx, i, false); err != nil {
			return 0, time.Since(t0), err
		}
		seed := time.Since(t0)
		timed, setup, err := w.signIn(ctx, c, g, i, true)
		return timed, seed + setup, err
	}

	targets := []Target{{Name: fmt.Sprintf("callback@%d", o.Conns), Conns: o.Conns, Timed: returning, NewClient: newJarClient}}
	if o.Conns != callbackP99Conns {
		targets = append(targets, Target{Name: fmt.Sprintf("callback@%d", callbackP99Conns), Conns: callbackP99Conns, Timed: returning, NewClient: newJarClient})
	}
	if o.Mix > 0 {
		targets = append(targets, Target{Name: fmt.Sprintf("mix%.0f%%@%d", 100*o.Mix, o.Conns), Conns: o.Conns, Timed: mixed, NewClient: newJarClient})
	}
	samples, err := Measure(ctx, o, targets)
	if err != nil {
		return Result{}, err
	}

	res := NewResult("callback", o)
	res.Samples = samples
	res.Summary = Summarize(samples)
	hi, lo := res.Find(targets[0].Name), res.Find(fmt.Sprintf("callback@%d", callbackP99Conns))

	infoCalls, detailCalls := w.sim.Calls("getuserinfo"), w.sim.Calls("getuserdetail")

	// The server side alone, in process: the callback handler (Server.Handler, every middleware)
	// with testing.Benchmark, minus the WeCom round trip it makes (client and simulator).
	fmt.Fprintln(o.Progress, "in-process benchmark of the callback handler")
	hb, err := benchCallbackHandler(ctx, w, g)
	if err != nil {
		return Result{}, err
	}
	sb, err := benchSimRoundTrip(ctx, w, g)
	if err != nil {
		return Result{}, err
	}
	gettoken := w.sim.Calls("gettoken")

	res.Notes = append(res.Notes,
		fmt.Sprintf("one operation = GET /start (setup columns) + a code minted by the simulator + GET /callback (timed); req/s counts whole operations; %d members bound beforehand, so every callback takes rule 4 (binding → user); half in the WeCom client, half desktop QR", o.Members),
		fmt.Sprintf("allocations per sign-in, whole process (generator, simulator and server, start + callback): %.0f at %d conns (median)", hi.AllocsReq, hi.Conns),
		fmt.Sprintf("server side alone (testing.Benchmark of Server.Handler on the callback, %d runs): %d allocs/op, %d B/op, %v/op serial; of which the WeCom getuserinfo round trip (Go HTTP client + simulator) is %d allocs/op, %d B/op, %v/op: Gatehouse's own callback work ≈ %d allocs, %d B",
			hb.N, hb.AllocsPerOp(), hb.AllocedBytesPerOp(), time.Duration(hb.NsPerOp()).Round(time.Microsecond),
			sb.AllocsPerOp(), sb.AllocedBytesPerOp(), time.Duration(sb.NsPerOp()).Round(time.Microsecond),
			hb.AllocsPerOp()-sb.AllocsPerOp(), hb.AllocedBytesPerOp()-sb.AllocedBytesPerOp()),
		fmt.Sprintf("simulator calls: gettoken %d over the whole run (load, in-process benchmarks); getuserinfo %d, getuserdetail %d during the load", gettoken, infoCalls, detailCalls),
	)
	if o.DB != "postgres" {
		res.Notes = append(res.Notes, "the targets are defined on PostgreSQL; this run used "+o.DB)
	}
	if o.Conns != callbackRPSConns {
		res.Notes = append(res.Notes, fmt.Sprintf("the req/s target is defined at %d connections; this run used %d", callbackRPSConns, o.Conns))
	}
	res.AddCheck(fmt.Sprintf("WeCom callback sign-ins/s at %d conns", hi.Conns), fmt.Sprintf("≥ %d", callbackMinRPS), fmt.Sprintf("%.0f", hi.RPS), hi.RPS >= callbackMinRPS)
	res.AddCheck(fmt.Sprintf("WeCom callback p99 at %d conns", lo.Conns), "≤ "+ms(callbackMaxP99), ms(lo.P99), lo.P99 <= callbackMaxP99)
	errs := 0
	for _, s := range res.Summary {
		errs += s.Errors
	}
	res.AddCheck("no failed sign-ins", "0", fmt.Sprint(errs), errs == 0)
	res.AddCheck("gettoken calls over the whole run", "1", fmt.Sprint(gettoken), gettoken == 1)
	return res, nil
}

// callbackCall is one prepared callback: its URL on an instance, the state cookie /start would have
// set (made with the instances' shared keys), and the User-Agent of its flow.
type callbackCall struct {
	url    string
	cookie *http.Cookie
	ua     string
}

// prepareCallback prepares the callback of bound member i at the instance with base URL base,
// alternating the WeCom client (even i) and a desktop browser; the code comes from the simulator.
func (w *wecomWorld) prepareCallback(states *auth.States, base string, i int) (callbackCall, error) {
	flow, ua, scope := auth.FlowQR, uaDesktop, wecomtest.ScopeWebLogin
	if i%2 == 0 {
		flow, ua, scope = auth.FlowInClient, uaWeCom, wecomtest.ScopePrivateInfo
	}
	rec := httptest.NewRecorder()
	p, err := states.Begin(rec, httptest.NewRequest(http.MethodGet, base+"/auth/wecom/"+benchAuthn+"/start", nil), auth.Pending{Name: benchAuthn, Flow: flow})
	if err != nil {
		return callbackCall{}, err
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		return callbackCall{}, fmt.Errorf("state cookies: %v", cookies)
	}
	code, err := w.sim.IssueCode(benchCorpID, benchAgentID, memberID(i%max(1, w.members)), scope, w.callback)
	if err != nil {
		return callbackCall{}, err
	}
	return callbackCall{
		url:    base + "/auth/wecom/" + benchAuthn + "/callback?code=" + url.QueryEscape(code) + "&state=" + p.State,
		cookie: cookies[0], ua: ua,
	}, nil
}

// states is a state codec with the instances' keys, as web.New builds it.
func (w *wecomWorld) states() *auth.States {
	return auth.NewStates(models.DeriveKey(w.key, "state hash"), models.DeriveKey(w.key, "state block"), false, time.Now)
}

// benchCallbackHandler runs the callback through the server's whole handler in process, serially,
// with the requests and recorders prepared before the timer starts.
func benchCallbackHandler(ctx context.Context, w *wecomWorld, g *Gatehouse) (testing.BenchmarkResult, error) {
	h := g.Server.Handler()
	var failed atomic.Value
	r := testing.Benchmark(func(b *testing.B) {
		reqs := make([]*http.Request, b.N)
		states := w.states()
		for i := range reqs {
			call, err := w.prepareCallback(states, g.URL, i)
			if err != nil {
				failed.Store(err)
				b.SkipNow()
			}
			r := httptest.NewRequest(http.MethodGet, call.url, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("User-Agent", call.ua)
			r.Header.Set("Accept-Language", "en")
			r.AddCookie(call.cookie)
			reqs[i] = r
		}
		recs := make([]*httptest.ResponseRecorder, b.N)
		for i := range recs {
			recs[i] = httptest.NewRecorder()
		}
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			h.ServeHTTP(recs[i], reqs[i].WithContext(ctx))
		}
		b.StopTimer()
		for _, rec := range recs {
			if rec.Code != http.StatusSeeOther {
				failed.Store(fmt.Errorf("in-process callback: status %d, want 303: %.200s", rec.Code, rec.Body.String()))
				return
			}
		}
	})
	if err, ok := failed.Load().(error); ok {
		return r, err
	}
	if r.N == 0 {
		return r, errors.New("in-process callback benchmark did not run")
	}
	return r, nil
}

// benchSimRoundTrip times the one WeCom call a returning member's callback makes, getuserinfo, from a
// client like the WeCom client's own (default transport) to the simulator, with the access_token
// Gatehouse cached (so no gettoken), to subtract it from the handler's numbers.
func benchSimRoundTrip(ctx context.Context, w *wecomWorld, g *Gatehouse) (testing.BenchmarkResult, error) {
	sealer, err := models.NewSealer(w.key)
	if err != nil {
		return testing.BenchmarkResult{}, err
	}
	var rows []models.WeComToken
	if err := g.Store.DB().WithContext(ctx).Find(&rows).Error; err != nil {
		return testing.BenchmarkResult{}, err
	}
	token := ""
	for _, row := range rows {
		if row.TokenSealed != "" {
			if token, err = sealer.Open(row.TokenSealed, models.WeComTokenFor(row.CacheKey)); err != nil {
				return testing.BenchmarkResult{}, err
			}
		}
	}
	if token == "" {
		return testing.BenchmarkResult{}, errors.New("no cached access_token")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var failed atomic.Value
	r := testing.Benchmark(func(b *testing.B) {
		urls := make([]string, b.N)
		for i := range urls {
			code, err := w.sim.IssueCode(benchCorpID, benchAgentID, memberID(i%max(1, w.members)), wecomtest.ScopeWebLogin, w.callback)
			if err != nil {
				failed.Store(err)
				b.SkipNow()
			}
			urls[i] = w.simURL + "/cgi-bin/auth/getuserinfo?access_token=" + url.QueryEscape(token) + "&code=" + url.QueryEscape(code)
		}
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			resp, err := get(ctx, client, urls[i], "")
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Store(fmt.Errorf("getuserinfo: %v", err))
				return
			}
		}
	})
	if err, ok := failed.Load().(error); ok {
		return r, err
	}
	return r, nil
}

// coldtokenScenario checks that 200 concurrent cold sign-ins fetch exactly one access_token: on one
// instance, and spread over three instances on one PostgreSQL schema (DESIGN.md §8). Every round
// builds fresh worlds (a new simulator, a new database, so the token cache is cold) and alternates
// the order of the two.
func coldtokenScenario(ctx context.Context, o Options) (Result, error) {
	kinds := []int{1, 3}
	if o.DB != "postgres" {
		kinds = []int{1}
	}
	res := NewResult("coldtoken", o)
	res.Conns = coldSignIns
	res.Duration = fmt.Sprintf("%d cold sign-ins", coldSignIns)
	counts := map[int][]int{}
	for round := 1; round <= o.Rounds; round++ {
		order := slices.Clone(kinds)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, k := range order {
			st, calls, err := coldRound(ctx, o, k)
			if err != nil {
				return Result{}, fmt.Errorf("round %d, %d instance(s): %w", round, k, err)
			}
			name := fmt.Sprintf("%d-instance", k)
			fmt.Fprintf(o.Progress, "round %d  %-12s gettoken %d  all done in %v  p50 %-8s p99 %-8s errors %d\n",
				round, name, calls, st.Elapsed.Round(time.Millisecond), ms(st.P50), ms(st.P99), st.Errors)
			res.Samples = append(res.Samples, Sample{Round: round, Target: name, Conns: coldSignIns, Stats: st})
			counts[k] = append(counts[k], calls)
		}
	}
	res.Summary = Summarize(res.Samples)
	res.Notes = append(res.Notes,
		fmt.Sprintf("each run: a fresh simulator (API latency %v, so every cold caller waits while the token is fetched) and a fresh database with %d bound members; %d callbacks with pre-made state cookies and codes, released together, spread round-robin over the instances; req/s = %d / time until the last answer", coldLatency, coldSignIns, coldSignIns, coldSignIns),
		"the 3-instance runs are 3 web.New servers, each with its own store (connection pool) on the same PostgreSQL schema, sharing the token cache through the database")
	if o.DB != "postgres" {
		res.Notes = append(res.Notes, "3 instances need -db postgres; only the single instance ran")
	}
	errs := 0
	for _, s := range res.Summary {
		errs += s.Errors
	}
	for _, k := range kinds {
		ok := true
		for _, c := range counts[k] {
			ok = ok && c == 1
		}
		res.AddCheck(fmt.Sprintf("gettoken calls, %d cold sign-ins on %d instance(s), each round", coldSignIns, k), "1", strings.Trim(fmt.Sprint(counts[k]), "[]"), ok)
	}
	res.AddCheck("no failed sign-ins", "0", fmt.Sprint(errs), errs == 0)
	return res, nil
}

const (
	coldSignIns = 200
	coldLatency = 50 * time.Millisecond
)

// coldRound runs coldSignIns concurrent callbacks on a fresh world of k instances and returns their
// statistics and the simulator's gettoken count.
func coldRound(ctx context.Context, o Options, k int) (Stats, int, error) {
	w, err := newWeComWorld(ctx, o, k)
	if err != nil {
		return Stats{}, 0, err
	}
	defer w.Close()
	if err := w.seedBound(ctx, 0, coldSignIns); err != nil {
		return Stats{}, 0, err
	}
	reqs := make([]*http.Request, coldSignIns)
	states := w.states()
	for i := range reqs {
		// Member i, round-robin over the instances (all share the keys, so any may check the state).
		call, err := w.prepareCallback(states, w.gs[i%k].URL, i)
		if err != nil {
			return Stats{}, 0, err
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, call.url, nil)
		if err != nil {
			return Stats{}, 0, err
		}
		r.Header.Set("User-Agent", call.ua)
		r.Header.Set("Accept-Language", "en")
		r.AddCookie(call.cookie)
		reqs[i] = r
	}
	w.sim.SetLatency(coldLatency)
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: coldSignIns, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	var (
		wg    sync.WaitGroup
		lats  = make([]time.Duration, coldSignIns)
		errs  atomic.Int64
		first atomic.Value
		gun   = make(chan struct{})
	)
	for i, r := range reqs {
		wg.Go(func() {
			<-gun
			t0 := time.Now()
			resp, err := client.Do(r)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					err = fmt.Errorf("status %d, want 303", resp.StatusCode)
				}
			}
			lats[i] = time.Since(t0)
			if err != nil {
				errs.Add(1)
				first.CompareAndSwap(nil, err.Error())
			}
		})
	}
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	start := time.Now()
	close(gun)
	wg.Wait()
	st := Stats{Requests: coldSignIns, Errors: int(errs.Load()), Elapsed: time.Since(start)}
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	st.AllocsReq = float64(ms1.Mallocs-ms0.Mallocs) / coldSignIns
	if cpu0 >= 0 && cpu1 >= 0 {
		st.CPUPerReq = (cpu1 - cpu0) / coldSignIns
	}
	if s, ok := first.Load().(string); ok {
		st.FirstErr = s
	}
	slices.Sort(lats)
	st.P50, st.P90, st.P99, st.Max = percentile(lats, 50), percentile(lats, 90), percentile(lats, 99), lats[len(lats)-1]
	st.RPS = float64(coldSignIns) / st.Elapsed.Seconds()
	return st, w.sim.Calls("gettoken"), nil
}
