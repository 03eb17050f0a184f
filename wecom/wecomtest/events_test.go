package wecomtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/wecom/wecomtest"
)

// receiver is an app's event URL that checks every push with Gatehouse's crypto.
type receiver struct {
	mu     sync.Mutex
	events []directory.Message
	errs   []error
	fail   int // answer 500 to the next fail pushes
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	c, err := directory.NewCallbackCrypto(wecomtest.DemoEventToken, wecomtest.DemoEventAESKey, wecomtest.DemoCorpID)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if req.Method == http.MethodGet {
			msg, err := c.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
			if err != nil {
				http.Error(w, err.Error(), 403)
				return
			}
			w.Write(msg)
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(500)
			return
		}
		msg, err := c.DecryptPost(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if err != nil {
			r.errs = append(r.errs, err)
			w.WriteHeader(403)
			return
		}
		m, err := directory.ParseMessage(msg)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		r.events = append(r.events, m)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.events {
		e := m.Event
		if m.ChangeType != "" {
			e += "/" + m.ChangeType + ":" + m.UserID
		} else {
			e += ":" + m.FromUserName
		}
		if m.AgentID != "" {
			e += "@" + m.AgentID
		}
		out = append(out, e)
	}
	return out
}

func demoSim(t *testing.T) *wecomtest.Sim {
	s := wecomtest.New()
	if err := s.Apply(wecomtest.DemoSeed()); err != nil {
		t.Fatal(err)
	}
	s.SetPushRetryWait(time.Millisecond)
	return s
}

// TestEventPushes: leaving, being disabled, leaving the visible range and coming back push signed,
// encrypted subscribe / unsubscribe events that Gatehouse's crypto opens, in order; change_contact goes
// only to a contacts-sync URL, reduced after 2022-08-15 as WeCom does.
func TestEventPushes(t *testing.T) {
	app, contacts := newReceiver(t), newReceiver(t)
	s := demoSim(t)
	// Without an event callback nothing is pushed.
	if err := s.SetMemberStatus(wecomtest.DemoCorpID, "lisi", 2); err != nil {
		t.Fatal(err)
	}
	s.WaitPushes()
	if len(s.Pushes()) != 0 {
		t.Fatalf("pushes without a callback: %+v", s.Pushes())
	}
	cfg := wecomtest.EventConfig{URL: app.srv.URL + "/events", Token: wecomtest.DemoEventToken, AESKey: wecomtest.DemoEventAESKey, ContactsURL: contacts.srv.URL}
	if err := s.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckEventURL(context.Background(), wecomtest.DemoCorpID, wecomtest.DemoAgentID); err != nil {
		t.Fatalf("URL check: %v", err)
	}
	steps := []func() error{
		func() error { return s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 5) },                 // leaves
		func() error { return s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 1) },                 // back
		func() error { return s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 2) },                 // disabled
		func() error { return s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 1) },                 // enabled
		func() error { return s.SetMemberVisibleTo(wecomtest.DemoCorpID, "zhangsan", []int64{1}) },     // out of range
		func() error { return s.SetMemberVisibleTo(wecomtest.DemoCorpID, "zhangsan", nil) },            // in range
		func() error { return s.SetMemberVisibleTo(wecomtest.DemoCorpID, "wangwu", []int64{1000003}) }, // no change
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitPushes()
	want := "unsubscribe:zhangsan@1000002 subscribe:zhangsan@1000002 unsubscribe:zhangsan@1000002 subscribe:zhangsan@1000002 unsubscribe:zhangsan@1000002 subscribe:zhangsan@1000002"
	if got := strings.Join(app.got(), " "); got != want {
		t.Errorf("app got %s\nwant %s", got, want)
	}
	want = "change_contact/delete_user:zhangsan change_contact/update_user:zhangsan change_contact/update_user:zhangsan change_contact/update_user:zhangsan"
	if got := strings.Join(contacts.got(), " "); got != want {
		t.Errorf("contacts got %s\nwant %s", got, want)
	}
	if len(app.errs)+len(contacts.errs) > 0 {
		t.Errorf("refused pushes: %v %v", app.errs, contacts.errs)
	}
	for _, p := range s.Pushes() {
		if !p.Delivered() || p.Attempts != 1 {
			t.Errorf("push %+v", p)
		}
	}

	// Reduced contacts callbacks: disabling sends nothing there; leaving still sends delete_user.
	cfg.ContactsReduced = true
	if err := s.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, cfg); err != nil {
		t.Fatal(err)
	}
	s.SetMemberStatus(wecomtest.DemoCorpID, "lisi", 1)
	s.SetMemberStatus(wecomtest.DemoCorpID, "lisi", 2)
	s.SetMemberStatus(wecomtest.DemoCorpID, "lisi", 5)
	s.WaitPushes()
	if got := contacts.got(); got[len(got)-1] != "change_contact/delete_user:lisi" || len(got) != 5 {
		t.Errorf("reduced contacts got %v", got)
	}
}

// TestEventPushRetries: a push answered other than 200 is tried again, three more times at most.
func TestEventPushRetries(t *testing.T) {
	app := newReceiver(t)
	s := demoSim(t)
	if err := s.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, wecomtest.EventConfig{URL: app.srv.URL, Token: wecomtest.DemoEventToken, AESKey: wecomtest.DemoEventAESKey}); err != nil {
		t.Fatal(err)
	}
	app.fail = 2
	s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 5)
	s.WaitPushes()
	if p := s.Pushes(); len(p) != 1 || !p[0].Delivered() || p[0].Attempts != 3 {
		t.Fatalf("pushes = %+v", p)
	}
	app.fail = 100
	s.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 1)
	s.WaitPushes()
	if p := s.Pushes(); len(p) != 2 || p[1].Delivered() || p[1].Attempts != 4 || p[1].Status != 500 {
		t.Fatalf("pushes = %+v", p)
	}
	// A wrong Token: the app refuses, as Gatehouse would.
	if err := s.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, wecomtest.EventConfig{URL: app.srv.URL, Token: "other", AESKey: wecomtest.DemoEventAESKey}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckEventURL(context.Background(), wecomtest.DemoCorpID, wecomtest.DemoAgentID); err == nil || !strings.Contains(err.Error(), "40057") {
		t.Fatalf("URL check with a wrong token: %v", err)
	}
	if err := s.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, wecomtest.EventConfig{URL: app.srv.URL, Token: "x", AESKey: "short"}); err == nil {
		t.Fatal("a short EncodingAESKey was accepted")
	}
}
