package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// Messages of the wecom_error page (English), by what the member should do.
const (
	msgConfig   = "not set up correctly"
	msgStart    = "Start again"
	msgBusy     = "WeCom is busy"
	msgVisible  = "visible range"
	msgGone     = "does not know this member"
	msgNoAnswer = "could not reach WeCom in time"
)

// TestWeComErrcodes runs one sign-in per errcode of shared/wecom-api.md's table that a sign-in can
// meet, injected at the call where WeCom gives it, and checks what the member sees, how often each
// call was made (retries, refresh-once, never-retry) and that no secret or token leaks.
func TestWeComErrcodes(t *testing.T) {
	type fail struct {
		endpoint string
		n, code  int
	}
	tests := []struct {
		name   string
		spec   worldSpec
		member string
		// warm signs alice in once first (a bound user and a cached token), then runs kill.
		warm  bool
		kill  func(s *wecomtest.Sim)
		fails []fail
		// want
		status  int
		outcome string
		code    int    // errcode on the page and in the audit
		message string // part of the page's message
		calls   map[string]int
	}{
		{name: "-1 system busy at gettoken: retried, then succeeds", member: "alice", fails: []fail{{"gettoken", 3, -1}},
			status: 303, calls: map[string]int{"gettoken": 4, "getuserinfo": 1, "getuserdetail": 1}},
		{name: "-1 system busy at getuserinfo: retried, then succeeds", member: "alice", fails: []fail{{"getuserinfo", 2, -1}},
			status: 303, calls: map[string]int{"gettoken": 1, "getuserinfo": 3, "getuserdetail": 1}},
		{name: "-1 system busy four times at getuserdetail: wecom_error after 3 retries", member: "alice", fails: []fail{{"getuserdetail", 4, -1}},
			status: 502, outcome: "wecom_error", code: -1, message: msgBusy, calls: map[string]int{"getuserdetail": 4}},
		{name: "40001 wrong secret at gettoken: config error, not retried", member: "alice", fails: []fail{{"gettoken", 1, 40001}},
			status: 502, outcome: "wecom_error", code: 40001, message: msgConfig, calls: map[string]int{"gettoken": 1, "getuserinfo": 0}},
		{name: "40013 wrong corp id at gettoken", member: "alice", fails: []fail{{"gettoken", 1, 40013}},
			status: 502, outcome: "wecom_error", code: 40013, message: msgConfig, calls: map[string]int{"gettoken": 1}},
		{name: "40056 wrong agent id at getuserinfo", member: "alice", fails: []fail{{"getuserinfo", 1, 40056}},
			status: 502, outcome: "wecom_error", code: 40056, message: msgConfig, calls: map[string]int{"getuserinfo": 1}},
		{name: "41004 secret missing at gettoken", member: "alice", fails: []fail{{"gettoken", 1, 41004}},
			status: 502, outcome: "wecom_error", code: 41004, message: msgConfig, calls: map[string]int{"gettoken": 1}},
		{name: "48002 API forbidden at user/get (auto-signup): no user written", spec: worldSpec{AutoSignup: true}, member: "bob", fails: []fail{{"user/get", 1, 48002}},
			status: 502, outcome: "wecom_error", code: 48002, message: msgConfig, calls: map[string]int{"user/get": 1}},
		{name: "60020 caller IP not trusted at gettoken", member: "alice", fails: []fail{{"gettoken", 1, 60020}},
			status: 502, outcome: "wecom_error", code: 60020, message: msgConfig, calls: map[string]int{"gettoken": 1}},
		{name: "301002 token of another agent at getuserdetail", member: "alice", fails: []fail{{"getuserdetail", 1, 301002}},
			status: 502, outcome: "wecom_error", code: 301002, message: msgConfig, calls: map[string]int{"getuserdetail": 1}},
		{name: "50001 callback host not a trusted domain (real check at exchange)", spec: worldSpec{TrustedDomains: []string{"gate.example.com"}}, member: "alice",
			status: 502, outcome: "wecom_error", code: 50001, message: msgConfig, calls: map[string]int{"getuserinfo": 1}},
		{name: "42001 token expired early: refreshed once and the sign-in succeeds", member: "alice", warm: true,
			kill:   func(s *wecomtest.Sim) { s.ExpireToken(corpID, agentID) },
			status: 303, calls: map[string]int{"gettoken": 2, "getuserinfo": 3}},
		{name: "40014 token revoked: refreshed once and the sign-in succeeds", member: "alice", warm: true,
			kill:   func(s *wecomtest.Sim) { s.RevokeToken(corpID, agentID) },
			status: 303, calls: map[string]int{"gettoken": 2, "getuserinfo": 3}},
		{name: "40029 code reused or expired: start again, never retried", member: "alice", fails: []fail{{"getuserinfo", 1, 40029}},
			status: 502, outcome: "wecom_error", code: 40029, message: msgStart, calls: map[string]int{"getuserinfo": 1, "getuserdetail": 0}},
		{name: "45009 rate limit: busy, not retried", member: "alice", fails: []fail{{"getuserinfo", 1, 45009}},
			status: 502, outcome: "wecom_error", code: 45009, message: msgBusy, calls: map[string]int{"getuserinfo": 1}},
		{name: "60011 member outside the visible range", member: "carol",
			status: 502, outcome: "wecom_error", code: 60011, message: msgVisible, calls: map[string]int{"user/get": 1}},
		{name: "60111 member left (user/get during auto-signup): nothing written", spec: worldSpec{AutoSignup: true}, member: "bob", fails: []fail{{"user/get", 1, 60111}},
			status: 502, outcome: "wecom_error", code: 60111, message: msgGone, calls: map[string]int{"user/get": 1}},
		{name: "84014 user_ticket expired", member: "alice", fails: []fail{{"getuserdetail", 1, 84014}},
			status: 502, outcome: "wecom_error", code: 84014, message: msgStart, calls: map[string]int{"getuserdetail": 1}},
		{name: "84015 user_ticket invalid", member: "alice", fails: []fail{{"getuserdetail", 1, 84015}},
			status: 502, outcome: "wecom_error", code: 84015, message: msgStart, calls: map[string]int{"getuserdetail": 1}},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					w := newWorld(t, dialect, tt.spec)
					w.app.CreateUser("alice", "", false, "13800000001")
					if tt.warm {
						warm := w.app.Client()
						warm.UserAgent = wecom.UserAgentIOS
						if r := w.signIn(t, warm, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
							t.Fatalf("warm-up sign-in: %d %q", r.StatusCode, r.Outcome())
						}
						tt.kill(w.sim)
					}
					for _, f := range tt.fails {
						w.sim.FailNext(f.endpoint, f.n, f.code)
					}
					c := w.app.Client()
					c.UserAgent = wecom.UserAgentIOS
					target := w.toCallback(t, c, tt.member, "/auth/wecom/corp/start")
					before := w.counts(t)
					r := c.Get(target)
					after := w.counts(t)
					if r.StatusCode != tt.status || r.Outcome() != tt.outcome {
						t.Fatalf("got %d %q, want %d %q; %.300s", r.StatusCode, r.Outcome(), tt.status, tt.outcome, r.Body)
					}
					for ep, n := range tt.calls {
						if got := w.sim.Calls(ep); got != n {
							t.Errorf("%s called %d times, want %d", ep, got, n)
						}
					}
					assertNoSecrets(t, w.app, r.Body)
					if tt.outcome == "" {
						if after.sessions != before.sessions+1 {
							t.Errorf("no session after success")
						}
						return
					}
					if after.users != before.users || after.bindings != before.bindings || after.sessions != before.sessions {
						t.Errorf("a refusal wrote rows: before %+v after %+v", before, after)
					}
					page := r.Find("main").Text()
					if !strings.Contains(page, tt.message) || !strings.Contains(page, fmt.Sprintf("WeCom error code %d", tt.code)) {
						t.Errorf("page does not say %q with code %d: %s", tt.message, tt.code, strings.Join(strings.Fields(page), " "))
					}
					ev, detail := lastAudit(t, w.app, "")
					if ev.Action != models.ActionSigninRefused || detail["outcome"] != "wecom_error" || detail["errcode"] != float64(tt.code) {
						t.Errorf("audit %s %v", ev.Action, detail)
					}
					if strings.Contains(ev.Detail, secret) {
						t.Errorf("audit detail holds the secret")
					}
				})
			}
		})
	}
}

// TestFaultWeComSlow: WeCom hanging turns into the wecom_error page within 6 s, and password sign-in keeps
// working meanwhile (DESIGN.md §8). The only test of this file that really waits.
func TestFaultWeComSlow(t *testing.T) {
	timingTest(t)
	t.Parallel()
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, dialect, worldSpec{})
			w.app.CreateUser("alice", "", false, "13800000001")
			w.app.CreateUser("admin", "correct horse battery", true, "")
			c := w.app.Client()
			c.UserAgent = wecom.UserAgentIOS
			target := w.toCallback(t, c, "alice", "/auth/wecom/corp/start")
			w.sim.SetLatency(7 * time.Second)

			done := make(chan time.Duration, 1)
			go func() {
				// Password sign-in while the WeCom sign-in hangs: a plain HTTP client (no t.Fatal here).
				time.Sleep(300 * time.Millisecond)
				began := time.Now()
				form := url.Values{"username": {"admin"}, "password": {"correct horse battery"}}
				req, _ := http.NewRequest(http.MethodPost, w.app.URL()+"/signin", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusSeeOther {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- time.Since(began)
			}()
			began := time.Now()
			r := c.Get(target)
			elapsed := time.Since(began)
			if r.StatusCode != http.StatusBadGateway || r.Outcome() != "wecom_error" {
				t.Fatalf("slow WeCom: %d %q", r.StatusCode, r.Outcome())
			}
			if elapsed >= 7*time.Second {
				t.Errorf("error page after %v, want within ~6 s", elapsed)
			}
			if !strings.Contains(r.Body, msgNoAnswer) {
				t.Errorf("page does not say WeCom could not be reached")
			}
			switch d := <-done; {
			case d < 0:
				t.Errorf("password sign-in failed while WeCom hung")
			case d > 2*time.Second:
				t.Errorf("password sign-in took %v while WeCom hung", d)
			}
			if n := countRows(t, w.app).sessions; n != 1 {
				t.Errorf("sessions = %d, want the password one only", n)
			}
		})
	}
}
