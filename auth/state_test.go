package auth_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
)

func newStates(now func() time.Time) *auth.States {
	return auth.NewStates([]byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210"), false, now)
}

// begin starts a sign-in and returns its state and the browser's cookie.
func begin(t *testing.T, s *auth.States, p auth.Pending) (auth.Pending, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	p, err := s.Begin(rec, httptest.NewRequest(http.MethodGet, "/auth/wecom/corp/start", nil), p)
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	return p, cookies[0]
}

func TestStateCookie(t *testing.T) {
	s := newStates(time.Now)
	p, c := begin(t, s, auth.Pending{Name: "corp", Redirect: "/account", Flow: auth.FlowInClient, Auto: true})
	if !regexp.MustCompile(`^[a-zA-Z0-9]{64,128}$`).MatchString(p.State) {
		t.Errorf("state %q: WeCom allows a-zA-Z0-9, at most 128", p.State)
	}
	if c.Path != "/auth/wecom/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 {
		t.Errorf("cookie %+v: want Path /auth/wecom/, HttpOnly, SameSite=Lax, 10 minutes", c)
	}
	for _, leak := range []string{p.State, "/account", "corp"} {
		if strings.Contains(c.Value, leak) {
			t.Errorf("cookie shows %q in clear", leak)
		}
	}
	p2, _ := begin(t, s, auth.Pending{Name: "corp"})
	if p2.State == p.State {
		t.Errorf("two sign-ins share a state")
	}
}

func TestStateTake(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name  string
		take  func(p auth.Pending) (name, state string)
		age   time.Duration
		other bool // the cookie comes from States with other keys
		ok    bool
	}{
		{"matching state for this authenticator", func(p auth.Pending) (string, string) { return "corp", p.State }, 0, false, true},
		{"just before 10 minutes", func(p auth.Pending) (string, string) { return "corp", p.State }, 10*time.Minute - time.Second, false, true},
		{"expired after 10 minutes", func(p auth.Pending) (string, string) { return "corp", p.State }, 10 * time.Minute, false, false},
		{"another authenticator", func(p auth.Pending) (string, string) { return "other", p.State }, 0, false, false},
		{"forged state of the same length", func(p auth.Pending) (string, string) { return "corp", strings.Repeat("0", len(p.State)) }, 0, false, false},
		{"state prefix", func(p auth.Pending) (string, string) { return "corp", p.State[:32] }, 0, false, false},
		{"empty state", func(p auth.Pending) (string, string) { return "corp", "" }, 0, false, false},
		{"cookie sealed with other keys", func(p auth.Pending) (string, string) { return "corp", p.State }, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			issuer := newStates(clock)
			if tt.other {
				issuer = auth.NewStates([]byte("another-hash-key-0123456789abcde"), []byte("another-block-key-0123456789abcd"), false, clock)
			}
			p, c := begin(t, issuer, auth.Pending{Name: "corp", Redirect: "/account", Flow: auth.FlowQR})
			now = now.Add(tt.age)
			name, state := tt.take(p)
			req := httptest.NewRequest(http.MethodGet, "/auth/wecom/"+name+"/callback?state="+state, nil)
			req.AddCookie(c)
			rec := httptest.NewRecorder()
			got, err := newStates(clock).Take(rec, req, name, state)
			if (err == nil) != tt.ok {
				t.Fatalf("Take: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (got.Redirect != "/account" || got.Flow != auth.FlowQR) {
				t.Errorf("pending %+v", got)
			}
			cleared := false
			for _, ck := range rec.Result().Cookies() {
				cleared = cleared || (ck.Name == c.Name && ck.MaxAge < 0 && ck.Path == "/auth/wecom/")
			}
			if !cleared {
				t.Errorf("state cookie not cleared")
			}
		})
	}
	t.Run("no cookie", func(t *testing.T) {
		if _, err := newStates(clock).Take(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), "corp", "x"); err == nil {
			t.Error("Take without a cookie succeeded")
		}
	})
}

func TestAutoLoginGuard(t *testing.T) {
	s := newStates(time.Now)
	rec := httptest.NewRecorder()
	s.SetGuard(rec, httptest.NewRequest(http.MethodGet, "/admin", nil), "no_account")
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].MaxAge != 300 || cookies[0].Path != "/" || !cookies[0].HttpOnly {
		t.Fatalf("guard cookie %+v: want 5 minutes on /", cookies)
	}
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.AddCookie(cookies[0])
	if outcome, ok := s.Guard(req); !ok || outcome != "no_account" {
		t.Errorf("Guard = %q %v", outcome, ok)
	}
	rec = httptest.NewRecorder()
	s.ClearGuard(rec, req)
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("ClearGuard: %+v", c)
	}
	if _, ok := s.Guard(httptest.NewRequest(http.MethodGet, "/admin", nil)); ok {
		t.Errorf("guard without a cookie")
	}
}
