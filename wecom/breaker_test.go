package wecom_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// breakerEnv is newEnv with a breaker that opens after 3 failures for 30 s on the fake clock, and
// counts its openings.
func breakerEnv(t *testing.T) (env, *atomic.Int64) {
	t.Helper()
	e := newEnv(t)
	var opens atomic.Int64
	e.client = wecom.NewClient(e.srv.Client(), wecom.NewMemoryCacheWithClock(e.clock.Now), wecom.WithBreaker(wecom.BreakerSettings{
		Threshold: 3, OpenFor: 30 * time.Second, Now: e.clock.Now,
		OnOpen: func(apiBase, corpID string) {
			if apiBase != e.srv.URL || corpID != wecomtest.DemoCorpID {
				t.Errorf("OnOpen(%q, %q), want the simulator's base and the demo corp", apiBase, corpID)
			}
			opens.Add(1)
		},
	}))
	return e, &opens
}

// faults WeCom can have, each with the errcode a call meets and how to end it.
var breakerFaults = []struct {
	name    string
	code    int
	start   func(s *wecomtest.Sim)
	stop    func(s *wecomtest.Sim)
	timeout time.Duration // per call, for the hanging WeCom
}{
	{name: "down", code: wecom.CodeUnreachable, start: func(s *wecomtest.Sim) { s.SetDown(true) }, stop: func(s *wecomtest.Sim) { s.SetDown(false) }},
	{name: "hanging", code: wecom.CodeUnreachable, timeout: 100 * time.Millisecond,
		// Replies take 400 ms, calls give up after 100 ms; stopping waits for the token fetch still in
		// flight (detached from its callers, it ends on its own) to drain.
		start: func(s *wecomtest.Sim) { s.SetLatency(400 * time.Millisecond) },
		stop:  func(s *wecomtest.Sim) { s.SetLatency(0); time.Sleep(500 * time.Millisecond) }},
	{name: "system busy (-1)", code: -1, start: func(s *wecomtest.Sim) { s.FailAll(-1) }, stop: func(s *wecomtest.Sim) { s.FailAll(0) }},
	{name: "rate limited (45009)", code: 45009, start: func(s *wecomtest.Sim) { s.FailAll(45009) }, stop: func(s *wecomtest.Sim) { s.FailAll(0) }},
}

func callUser(e env, timeout time.Duration) error {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	_, err := e.client.User(ctx, e.cfg, "zhangsan")
	return err
}

// TestBreakerOpensHalfOpensAndCloses: after 3 failures in a row WeCom is no longer called and the
// error says so at once; after 30 s one trial call goes through, and its success closes the breaker.
func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	for _, f := range breakerFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e, opens := breakerEnv(t)
			f.start(e.sim)
			for i := range 3 {
				if err := callUser(e, f.timeout); wecom.CodeOf(err) != f.code {
					t.Fatalf("call %d: errcode %d (%v), want %d", i+1, wecom.CodeOf(err), err, f.code)
				}
			}
			if !e.client.BreakerOpen(e.cfg.APIBase, e.cfg.CorpID) || opens.Load() != 1 {
				t.Fatalf("after 3 failures: open %v, opened %d times; want open, once", e.client.BreakerOpen(e.cfg.APIBase, e.cfg.CorpID), opens.Load())
			}
			before := e.sim.Calls("gettoken") + e.sim.Calls("user/get")
			start := time.Now()
			err := callUser(e, f.timeout)
			if wecom.CodeOf(err) != wecom.CodeBreakerOpen || time.Since(start) > 50*time.Millisecond {
				t.Fatalf("call while open: errcode %d after %v, want CodeBreakerOpen at once", wecom.CodeOf(err), time.Since(start))
			}
			if after := e.sim.Calls("gettoken") + e.sim.Calls("user/get"); after != before {
				t.Errorf("WeCom was called %d times while the breaker was open", after-before)
			}

			f.stop(e.sim)
			e.clock.Advance(29 * time.Second)
			if err := callUser(e, 0); wecom.CodeOf(err) != wecom.CodeBreakerOpen {
				t.Fatalf("29 s later: errcode %d, want still open", wecom.CodeOf(err))
			}
			e.clock.Advance(2 * time.Second)
			if err := callUser(e, 0); err != nil {
				t.Fatalf("trial call after 31 s with WeCom back: %v", err)
			}
			if e.client.BreakerOpen(e.cfg.APIBase, e.cfg.CorpID) {
				t.Error("breaker still open after a successful trial call")
			}
			if err := callUser(e, 0); err != nil {
				t.Fatalf("call after closing: %v", err)
			}
		})
	}
}

// TestBreakerTrialFailureReopens: a failed trial call opens the breaker for another full period, and
// while the trial is under way every other call is refused without calling WeCom.
func TestBreakerTrialFailureReopens(t *testing.T) {
	e, opens := breakerEnv(t)
	e.sim.SetDown(true)
	for range 3 {
		callUser(e, 0)
	}
	e.clock.Advance(31 * time.Second)
	e.sim.SetDown(false)
	e.sim.SetLatency(300 * time.Millisecond)
	trial := make(chan error, 1)
	before := e.sim.Calls("gettoken")
	go func() { trial <- callUser(e, 0) }()
	for wait := time.Now(); e.sim.Calls("gettoken") == before; time.Sleep(5 * time.Millisecond) {
		if time.Since(wait) > 2*time.Second {
			t.Fatal("the trial call never reached WeCom")
		}
	}
	if err := callUser(e, 0); wecom.CodeOf(err) != wecom.CodeBreakerOpen {
		t.Errorf("second call during the trial: errcode %d, want CodeBreakerOpen", wecom.CodeOf(err))
	}
	e.sim.SetDown(true) // too late for the trial's gettoken, in time for its user/get
	if err := <-trial; wecom.CodeOf(err) != wecom.CodeUnreachable {
		t.Fatalf("trial: errcode %d (%v), want CodeUnreachable", wecom.CodeOf(err), err)
	}
	if opens.Load() != 2 {
		t.Errorf("opened %d times, want 2 (first failures, failed trial)", opens.Load())
	}
	e.sim.SetDown(false)
	e.sim.SetLatency(0)
	e.clock.Advance(29 * time.Second)
	if err := callUser(e, 0); wecom.CodeOf(err) != wecom.CodeBreakerOpen {
		t.Errorf("29 s after the failed trial: errcode %d, want still open", wecom.CodeOf(err))
	}
	e.clock.Advance(2 * time.Second)
	if err := callUser(e, 0); err != nil {
		t.Errorf("next trial: %v", err)
	}
}

// TestBreakerIgnoresAnswersAndCancellations: WeCom answering with a business errcode (a bad code, an
// unknown member) proves it is up, and a member who gave up says nothing about WeCom: neither opens.
func TestBreakerIgnoresAnswersAndCancellations(t *testing.T) {
	e, opens := breakerEnv(t)
	for range 5 {
		if _, err := e.client.User(t.Context(), e.cfg, "no-such-member"); wecom.CodeOf(err) != 60111 {
			t.Fatalf("unknown member: errcode %d, want 60111", wecom.CodeOf(err))
		}
	}
	e.sim.SetLatency(time.Hour)
	for range 5 {
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		e.client.User(ctx, e.cfg, "zhangsan")
	}
	e.sim.SetLatency(0)
	if opens.Load() != 0 || e.client.BreakerOpen(e.cfg.APIBase, e.cfg.CorpID) {
		t.Fatalf("breaker opened %d times; want never", opens.Load())
	}
	if err := callUser(e, 0); err != nil {
		t.Fatal(err)
	}
}

// TestBreakerIsPerCorp: a failing corp does not pause calls for another corp on the same host.
func TestBreakerIsPerCorp(t *testing.T) {
	e, _ := breakerEnv(t)
	e.sim.FailAll(45009)
	for range 3 {
		callUser(e, 0)
	}
	other := e.cfg
	other.CorpID = "ww-other-corp"
	if _, err := e.client.User(t.Context(), other, "zhangsan"); wecom.CodeOf(err) == wecom.CodeBreakerOpen {
		t.Fatal("another corp's call was paused by this corp's breaker")
	}
	if e.client.BreakerOpen(e.cfg.APIBase, other.CorpID) {
		t.Error("another corp reported open")
	}
}
