package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
)

// withQuery returns the callback URL u with its query parameter key set to value.
func withQuery(t *testing.T, u, key, value string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// TestSecurityWeComCallbackInput: a callback's code that no WeCom issued is refused before any call
// to WeCom, and a state cookie never outlives a callback, even one for an authenticator that is gone.
func TestSecurityWeComCallbackInput(t *testing.T) {
	const start = "/auth/wecom/corp/start"
	tests := []struct {
		name string
		code string
	}{
		{"over-long code is not forwarded to WeCom", strings.Repeat("a", 513)},
		{"code with a control character is not forwarded to WeCom", "abc\x01def"},
		{"code with a space is not forwarded to WeCom", "abc def"},
		{"code with non-ASCII bytes is not forwarded to WeCom", "abc\u00e9"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := w.app.Client()
					cb := withQuery(t, w.toCallback(t, c, "alice", start), "code", tt.code)
					w.sim.ResetCalls()
					r := c.Get(cb)
					if r.StatusCode != http.StatusBadRequest || r.Outcome() != "state_invalid" {
						t.Errorf("callback: %d %q, want 400 state_invalid", r.StatusCode, r.Outcome())
					}
					for _, ep := range []string{"gettoken", "getuserinfo", "getuserdetail", "user/get"} {
						if n := w.sim.Calls(ep); n != 0 {
							t.Errorf("%s called %d times", ep, n)
						}
					}
					if c.Cookie("gatehouse_session") != "" {
						t.Errorf("a session was issued")
					}
				})
			}
			t.Run("a code of 512 printable bytes still reaches WeCom", func(t *testing.T) {
				c := w.app.Client()
				cb := withQuery(t, w.toCallback(t, c, "alice", start), "code", strings.Repeat("a", 512))
				w.sim.ResetCalls()
				c.Get(cb)
				if w.sim.Calls("getuserinfo") != 1 {
					t.Errorf("getuserinfo = %d, want 1", w.sim.Calls("getuserinfo"))
				}
			})
		})
	}
}

// TestSecurityWeComStateClearedWhenUnavailable: the authenticator is disabled while the member is at
// WeCom; the callback answers authenticator_unavailable and deletes the state cookie.
func TestSecurityWeComStateClearedWhenUnavailable(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "other", CorpID: corpID, AgentID: agentID, Secret: secret})
			c := w.app.Client()
			cb := w.toCallback(t, c, "alice", "/auth/wecom/corp/start")
			a := w.a
			a.Enabled = false
			if err := w.app.Store.SaveAuthenticator(context.Background(), &a); err != nil {
				t.Fatal(err)
			}
			r := c.Get(cb)
			if r.StatusCode != http.StatusNotFound || r.Outcome() != "authenticator_unavailable" {
				t.Fatalf("callback: %d %q", r.StatusCode, r.Outcome())
			}
			cleared := false
			for _, ck := range r.Cookies() {
				if ck.Name == "gatehouse_wecom_state" && ck.MaxAge < 0 {
					cleared = true
				}
			}
			if !cleared {
				t.Errorf("the state cookie was not cleared: %v", r.Header.Values("Set-Cookie"))
			}
		})
	}
}

// TestSecurityWeComOutcomeLanguageFormNoCode: the language switch of an outcome page reached from a
// callback returns to the sign-in page, never to the callback URL with its code and state.
func TestSecurityWeComOutcomeLanguageFormNoCode(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			c := w.app.Client()
			cb := w.toCallback(t, c, "alice", "/auth/wecom/corp/start?redirect=%2Faccount")
			r := c.Get(cb) // QR without a binding: first_signin_in_client
			if r.Outcome() != "first_signin_in_client" {
				t.Fatalf("callback: %d %q", r.StatusCode, r.Outcome())
			}
			code := mustQuery(t, cb, "code")
			r.Find("form input[name=redirect]").Each(func(_ int, s *goquery.Selection) {
				v := s.AttrOr("value", "")
				if strings.Contains(v, "code=") || strings.Contains(v, "state=") || strings.Contains(v, code) {
					t.Errorf("a form field carries the callback URL: %q", v)
				}
			})
			if got := r.Find("form.lang-switch input[name=redirect]").AttrOr("value", ""); got != "/signin?redirect=%2Faccount" {
				t.Errorf("language switch returns to %q, want the sign-in page", got)
			}
			if strings.Contains(r.Body, code) {
				t.Errorf("the page shows the code")
			}
		})
	}
}

func mustQuery(t *testing.T, u, key string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query().Get(key)
}
