package wecom_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

const callback = "https://localhost:8080/auth/wecom/demo/callback"

// clock is a settable time source shared by the simulator and the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	sim    *wecomtest.Sim
	srv    *httptest.Server
	cfg    wecom.Config
	client *wecom.Client
	clock  *clock
}

// newEnv starts the simulator with the demo seed and a client with an empty memory cache, both
// on one fake clock.
func newEnv(t *testing.T) env {
	t.Helper()
	clk := newClock()
	sim, srv := wecomtest.NewServer(t, wecomtest.WithClock(clk.Now))
	if err := sim.Apply(wecomtest.DemoSeed()); err != nil {
		t.Fatal(err)
	}
	return env{
		sim:    sim,
		srv:    srv,
		clock:  clk,
		cfg:    wecom.Config{APIBase: srv.URL, CorpID: wecomtest.DemoCorpID, AgentID: wecomtest.DemoAgentID, Secret: wecomtest.DemoSecret},
		client: wecom.NewClient(srv.Client(), wecom.NewMemoryCacheWithClock(clk.Now)),
	}
}

func TestTokenIsReusedAcrossCalls(t *testing.T) {
	e := newEnv(t)
	for range 20 {
		if _, err := e.client.User(t.Context(), e.cfg, "zhangsan"); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.sim.Calls("gettoken"); got != 1 {
		t.Errorf("gettoken calls = %d, want 1", got)
	}
	if got := e.sim.Calls("user/get"); got != 20 {
		t.Errorf("user/get calls = %d, want 20", got)
	}
}

func TestConcurrentColdCallsFetchOneToken(t *testing.T) {
	e := newEnv(t)
	e.sim.SetLatency(20 * time.Millisecond) // widen the window in which misses overlap
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() {
			if _, err := e.client.User(t.Context(), e.cfg, "lisi"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := e.sim.Calls("gettoken"); got != 1 {
		t.Errorf("gettoken calls = %d, want 1", got)
	}
}

func TestCachedTokenExpiresBeforeWeComDoes(t *testing.T) {
	tests := []struct {
		name         string
		age          time.Duration
		wantGettoken int
	}{
		{"still fresh just before the 5-minute margin", 7200*time.Second - 5*time.Minute - time.Second, 1},
		{"refetched inside the margin", 7200*time.Second - 5*time.Minute + time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.client.User(t.Context(), e.cfg, "zhangsan"); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tt.age)
			if _, err := e.client.User(t.Context(), e.cfg, "zhangsan"); err != nil {
				t.Fatal(err)
			}
			if got := e.sim.Calls("gettoken"); got != tt.wantGettoken {
				t.Errorf("gettoken calls = %d, want %d", got, tt.wantGettoken)
			}
		})
	}
}

func TestStaleTokenIsRefreshedAndCallRetriedOnce(t *testing.T) {
	tests := []struct {
		name         string
		spoil        func(e env)
		wantCode     int
		wantGettoken int
		wantUserGet  int
	}{
		{"expired early (42001)", func(e env) { e.sim.ExpireToken(e.cfg.CorpID, e.cfg.AgentID) }, 0, 2, 3},
		{"revoked (40014)", func(e env) { e.sim.RevokeToken(e.cfg.CorpID, e.cfg.AgentID) }, 0, 2, 3},
		{"expired by the clock", func(e env) { e.clock.Advance(7200 * time.Second) }, 0, 2, 2},
		{"still refused after one refresh", func(e env) { e.sim.FailNext("user/get", 2, 42001) }, 42001, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.client.User(t.Context(), e.cfg, "zhangsan"); err != nil {
				t.Fatal(err)
			}
			tt.spoil(e)
			m, err := e.client.User(t.Context(), e.cfg, "zhangsan")
			if got := wecom.CodeOf(err); got != tt.wantCode {
				t.Fatalf("errcode = %d (%v), want %d", got, err, tt.wantCode)
			}
			if err == nil && m.Name != "张三" {
				t.Errorf("name = %q, want 张三", m.Name)
			}
			if got := e.sim.Calls("gettoken"); got != tt.wantGettoken {
				t.Errorf("gettoken calls = %d, want %d", got, tt.wantGettoken)
			}
			if got := e.sim.Calls("user/get"); got != tt.wantUserGet {
				t.Errorf("user/get calls = %d, want %d", got, tt.wantUserGet)
			}
		})
	}
}

func TestBusyIsRetriedAtMostThreeTimes(t *testing.T) {
	tests := []struct {
		name      string
		endpoint  string
		failures  int
		wantCode  int
		wantCalls int
	}{
		{"busy once, then fine", "user/get", 1, 0, 2},
		{"busy three times, then fine", "user/get", 3, 0, 4},
		{"busy four times gives up", "user/get", 4, -1, 4},
		{"gettoken busy twice, then fine", "gettoken", 2, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.FailNext(tt.endpoint, tt.failures, -1)
			_, err := e.client.User(t.Context(), e.cfg, "zhangsan")
			if got := wecom.CodeOf(err); got != tt.wantCode {
				t.Fatalf("errcode = %d (%v), want %d", got, err, tt.wantCode)
			}
			if got := e.sim.Calls(tt.endpoint); got != tt.wantCalls {
				t.Errorf("%s calls = %d, want %d", tt.endpoint, got, tt.wantCalls)
			}
		})
	}
}

func TestFinalErrorsAreNotRetried(t *testing.T) {
	tests := []struct {
		name     string
		call     func(e env) error
		endpoint string
		wantCode int
		config   bool
	}{
		{"reused or unknown code", func(e env) error {
			_, err := e.client.UserInfo(t.Context(), e.cfg, "no-such-code")
			return err
		}, "getuserinfo", 40029, false},
		{"rate limited", func(e env) error {
			e.sim.FailNext("user/get", 1, 45009)
			_, err := e.client.User(t.Context(), e.cfg, "zhangsan")
			return err
		}, "user/get", 45009, false},
		{"member outside the visible range", func(e env) error {
			_, err := e.client.User(t.Context(), e.cfg, "wangwu")
			return err
		}, "user/get", 60011, false},
		{"wrong secret", func(e env) error {
			cfg := e.cfg
			cfg.Secret = "wrong"
			_, err := e.client.User(t.Context(), cfg, "zhangsan")
			return err
		}, "gettoken", 40001, true},
		{"wrong corp id on the connection test", func(e env) error {
			cfg := e.cfg
			cfg.CorpID = "wwnope"
			_, _, err := e.client.FetchToken(t.Context(), cfg)
			return err
		}, "gettoken", 40013, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			err := tt.call(e)
			code := wecom.CodeOf(err)
			if code != tt.wantCode {
				t.Fatalf("errcode = %d (%v), want %d", code, err, tt.wantCode)
			}
			if got := e.sim.Calls(tt.endpoint); got != 1 {
				t.Errorf("%s calls = %d, want 1", tt.endpoint, got)
			}
			if got := wecom.IsConfigError(code); got != tt.config {
				t.Errorf("IsConfigError(%d) = %v, want %v", code, got, tt.config)
			}
		})
	}
}

func TestSlowWeComEndsWithTheContext(t *testing.T) {
	e := newEnv(t)
	e.sim.SetLatency(time.Second) // the detached token fetch outlives the call; keep cleanup short
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.client.User(ctx, e.cfg, "zhangsan")
	if got := wecom.CodeOf(err); got != wecom.CodeUnreachable {
		t.Fatalf("errcode = %d (%v), want CodeUnreachable", got, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("call took %v, want about 100 ms", elapsed)
	}
}

func TestErrorsNeverContainSecretOrToken(t *testing.T) {
	e := newEnv(t)
	token, _, err := e.client.FetchToken(t.Context(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		call func() error
	}{
		{"wrong secret", func() error {
			cfg := e.cfg
			cfg.Secret = e.cfg.Secret + "x"
			_, _, err := e.client.FetchToken(t.Context(), cfg)
			return err
		}},
		{"gettoken times out", func() error {
			e.sim.SetLatency(time.Second)
			defer e.sim.SetLatency(0)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			_, _, err := e.client.FetchToken(ctx, e.cfg)
			return err
		}},
		{"data call times out", func() error {
			if _, err := e.client.User(t.Context(), e.cfg, "zhangsan"); err != nil { // warm the cache
				return err
			}
			e.sim.SetLatency(time.Second)
			defer e.sim.SetLatency(0)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			_, err := e.client.User(ctx, e.cfg, "zhangsan")
			return err
		}},
		{"connection refused", func() error {
			cfg := e.cfg
			cfg.APIBase = closed.URL
			_, _, err := e.client.FetchToken(t.Context(), cfg)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, secret := range []string{e.cfg.Secret, token, "corpsecret", "access_token="} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

func TestCallerIPIsReadFromErrmsg(t *testing.T) {
	sim, srv := wecomtest.NewServer(t)
	corp := wecomtest.Corp{ID: "wwip", Name: "IP corp", TrustedIPs: []string{"203.0.113.7"}, Apps: []wecomtest.App{{AgentID: 7, Secret: "s7"}}}
	if err := sim.AddCorp(corp); err != nil {
		t.Fatal(err)
	}
	client := wecom.NewClient(srv.Client(), nil)
	_, _, err := client.FetchToken(t.Context(), wecom.Config{APIBase: srv.URL, CorpID: "wwip", AgentID: 7, Secret: "s7"})
	var we *wecom.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v is not a *wecom.Error", err)
	}
	if we.Code != 60020 || we.FromIP != "127.0.0.1" || we.Op != "gettoken" {
		t.Errorf("got %+v, want 60020 from 127.0.0.1 on gettoken", *we)
	}
	if want := "wecom gettoken: errcode 60020 (caller IP not trusted)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestBadRepliesAreErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"HTTP 502", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad gateway", http.StatusBadGateway) }},
		{"HTML body", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>maintenance</html>")) }},
		{"no access_token", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			client := wecom.NewClient(srv.Client(), nil)
			_, _, err := client.FetchToken(t.Context(), wecom.Config{APIBase: srv.URL, CorpID: "c", AgentID: 1, Secret: "s"})
			if got := wecom.CodeOf(err); got != wecom.CodeBadResponse {
				t.Errorf("errcode = %d (%v), want CodeBadResponse", got, err)
			}
		})
	}
}

func TestSignInCalls(t *testing.T) {
	e := newEnv(t)
	issue := func(userID, scope string) string {
		code, err := e.sim.IssueCode(wecomtest.DemoCorpID, wecomtest.DemoAgentID, userID, scope, callback)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}

	t.Run("in-client code of a consenting member gives ticket then mobile", func(t *testing.T) {
		info, err := e.client.UserInfo(t.Context(), e.cfg, issue("zhangsan", wecomtest.ScopePrivateInfo))
		if err != nil {
			t.Fatal(err)
		}
		if info.UserID != "zhangsan" || info.UserTicket == "" || info.OpenID != "" {
			t.Fatalf("UserInfo = %+v, want zhangsan with a ticket", info)
		}
		detail, err := e.client.UserDetail(t.Context(), e.cfg, info.UserTicket)
		if err != nil {
			t.Fatal(err)
		}
		want := wecom.UserDetail{UserID: "zhangsan", Gender: "1", Mobile: "13800000001", Email: "zhangsan@demo.example"}
		if detail != want {
			t.Errorf("UserDetail = %+v, want %+v", detail, want)
		}
	})
	t.Run("QR code gives userid alone", func(t *testing.T) {
		info, err := e.client.UserInfo(t.Context(), e.cfg, issue("lisi", wecomtest.ScopeWebLogin))
		if err != nil {
			t.Fatal(err)
		}
		if (info != wecom.UserInfo{UserID: "lisi"}) {
			t.Errorf("UserInfo = %+v, want userid lisi only", info)
		}
	})
	t.Run("non-member gives openid", func(t *testing.T) {
		info, err := e.client.UserInfo(t.Context(), e.cfg, issue(wecomtest.ExternalUser, wecomtest.ScopePrivateInfo))
		if err != nil {
			t.Fatal(err)
		}
		if info.UserID != "" || info.OpenID == "" || info.ExternalUserID == "" {
			t.Errorf("UserInfo = %+v, want openid and external_userid only", info)
		}
	})
	t.Run("code is single use", func(t *testing.T) {
		code := issue("lisi", wecomtest.ScopeWebLogin)
		if _, err := e.client.UserInfo(t.Context(), e.cfg, code); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.UserInfo(t.Context(), e.cfg, code)
		if got := wecom.CodeOf(err); got != 40029 {
			t.Errorf("second use errcode = %d, want 40029", got)
		}
	})
	t.Run("user/get reads the member without mobile", func(t *testing.T) {
		m, err := e.client.User(t.Context(), e.cfg, "lisi")
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "李四" || m.Status != 1 || m.Mobile != "" || len(m.Department) != 1 {
			t.Errorf("Member = %+v", m)
		}
	})
	t.Run("mobile to userid", func(t *testing.T) {
		id, err := e.client.UserIDByMobile(t.Context(), e.cfg, "13800000002")
		if err != nil || id != "lisi" {
			t.Errorf("UserIDByMobile = %q, %v; want lisi", id, err)
		}
		_, err = e.client.UserIDByMobile(t.Context(), e.cfg, "13900000000")
		if got := wecom.CodeOf(err); got != 46004 {
			t.Errorf("unknown mobile errcode = %d, want 46004", got)
		}
	})
	t.Run("DropToken forces a new gettoken", func(t *testing.T) {
		before := e.sim.Calls("gettoken")
		if err := e.client.DropToken(t.Context(), e.cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.User(t.Context(), e.cfg, "lisi"); err != nil {
			t.Fatal(err)
		}
		if got := e.sim.Calls("gettoken"); got != before+1 {
			t.Errorf("gettoken calls = %d, want %d", got, before+1)
		}
	})
}

func TestUserInfoReadsLegacyShape(t *testing.T) {
	e := newEnv(t)
	token, _, err := e.client.FetchToken(t.Context(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	code, err := e.sim.IssueCode(wecomtest.DemoCorpID, wecomtest.DemoAgentID, "zhangsan", wecomtest.ScopePrivateInfo, callback)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Get(e.srv.URL + "/cgi-bin/user/getuserinfo?access_token=" + token + "&code=" + code)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	var info wecom.UserInfo
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["UserId"]; !ok {
		t.Fatalf("legacy reply %s has no UserId key", body)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if info.UserID != "zhangsan" || info.UserTicket == "" {
		t.Errorf("decoded %+v from %s", info, body)
	}

	var legacy wecom.UserInfo
	if err := json.Unmarshal([]byte(`{"errcode":0,"errmsg":"ok","OpenId":"oABC","DeviceId":"dev1"}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if (legacy != wecom.UserInfo{OpenID: "oABC", DeviceID: "dev1"}) {
		t.Errorf("decoded %+v", legacy)
	}
}
