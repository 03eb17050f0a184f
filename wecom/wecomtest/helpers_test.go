package wecomtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	legacyAgent  = int64(1000003) // wangwu is visible to this app only
	legacySecret = "legacy-secret-0123456789"
	lockedCorp   = "wwlocked"
	lockedSecret = "locked-secret"
	trustedCB    = "http://localhost:8080/auth/wecom/demo/callback"
	untrustedCB  = "https://evil.example/cb"
	otherIP      = "198.51.100.9"
)

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

type simEnv struct {
	t     *testing.T
	sim   *Sim
	clock *fakeClock
}

// newSimEnv is the demo seed plus a legacy app in the demo corp, a member who hides their
// mobile, and a corp that trusts only 127.0.0.1.
func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	sim := New(WithClock(clk.Now))
	seed := DemoSeed()
	seed.Corps[0].Apps = append(seed.Corps[0].Apps, App{AgentID: legacyAgent, Secret: legacySecret, Name: "Legacy", Legacy: true})
	seed.Corps = append(seed.Corps, Corp{ID: lockedCorp, Name: "Locked", TrustedIPs: []string{"127.0.0.1"}, Apps: []App{{AgentID: 9, Secret: lockedSecret}}})
	seed.Members[DemoCorpID] = append(seed.Members[DemoCorpID], Member{UserID: "hider", Name: "Hider", Mobile: "13800000009", Email: "h@demo.example", HideMobile: true})
	if err := sim.Apply(seed); err != nil {
		t.Fatal(err)
	}
	return &simEnv{t: t, sim: sim, clock: clk}
}

// target builds path?k=v&… from pairs.
func target(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return path + "?" + q.Encode()
}

// call sends a request straight to the simulator from ip ("" = 127.0.0.1).
func (e *simEnv) call(ip, method, target, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if ip == "" {
		ip = "127.0.0.1"
	}
	r.RemoteAddr = ip + ":40000"
	w := httptest.NewRecorder()
	e.sim.ServeHTTP(w, r)
	return w
}

// api sends an API request and decodes the reply, which must be HTTP 200 JSON.
func (e *simEnv) api(ip, method, target, body string) (map[string]any, http.Header) {
	e.t.Helper()
	w := e.call(ip, method, target, body)
	if w.Code != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d, want 200", method, target, w.Code)
	}
	var reply map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatalf("%s %s: reply %q is not JSON: %v", method, target, w.Body, err)
	}
	return reply, w.Header()
}

func (e *simEnv) token(corpID, secret string) string {
	e.t.Helper()
	reply, _ := e.api("", "GET", target("/cgi-bin/gettoken", "corpid", corpID, "corpsecret", secret), "")
	tok, _ := reply["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("gettoken: %v", reply)
	}
	return tok
}

func (e *simEnv) demoToken() string { return e.token(DemoCorpID, DemoSecret) }

func (e *simEnv) code(agentID int64, userID, scope, redirect string) string {
	e.t.Helper()
	code, err := e.sim.IssueCode(DemoCorpID, agentID, userID, scope, redirect)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// ticket returns a user_ticket for a demo member through a privateinfo code.
func (e *simEnv) ticket(userID string) string {
	e.t.Helper()
	reply, _ := e.api("", "GET", target("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, userID, ScopePrivateInfo, trustedCB)), "")
	t, _ := reply["user_ticket"].(string)
	if t == "" {
		e.t.Fatalf("no user_ticket: %v", reply)
	}
	return t
}

func errcode(reply map[string]any) int {
	f, _ := reply["errcode"].(float64)
	return int(f)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func newRequest(ctx context.Context, target string) *http.Request {
	return httptest.NewRequest("GET", target, nil).WithContext(ctx)
}

// discard is a ResponseWriter that drops everything.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
