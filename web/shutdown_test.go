package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// SIGTERM (a cancelled context) lets a sign-in that is in flight finish before Serve returns, and new
// connections are refused afterwards.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.New(t, "sqlite", webtest.WithWeCom(simSrv.URL))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, TrustedDomains: []string{host}, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret}}}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddMember(corpID, wecomtest.Member{UserID: "alice", Name: "Alice", Mobile: "13800000001"}); err != nil {
		t.Fatal(err)
	}
	app.CreateUser("alice", "", false, "13800000001")
	app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, Origin: "http://" + host})

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- app.Gatehouse.Serve(ctx, ln) }()

	// Walk the in-client flow up to the callback URL.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("User-Agent", wecom.UserAgentIOS)
		req.Header.Set(wecomtest.MemberHeader, "alice")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp
	}
	authorize := get("http://" + host + "/auth/wecom/corp/start").Header.Get("Location")
	callback := get(authorize).Header.Get("Location")

	// The callback waits on a slow WeCom while the server is told to stop.
	sim.SetLatency(time.Second)
	status := make(chan int, 1)
	go func() { status <- get(callback).StatusCode }()
	time.Sleep(300 * time.Millisecond)
	stop()

	if got := <-status; got != http.StatusSeeOther {
		t.Fatalf("in-flight sign-in during shutdown: status %d, want 303", got)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s of the shutdown")
	}
	if _, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}
