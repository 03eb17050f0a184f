package web_test

import (
	"strings"
	"testing"

	"gatehouse/models/modelstest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestOIDCWeComSignin: an app's sign-in through WeCom. In a desktop browser the person lands on
// Gatehouse's sign-in page, picks WeCom (the simulator's QR page) and comes back to the app with a
// code; inside the WeCom client with auto login it passes through WeCom without a page.
func TestOIDCWeComSignin(t *testing.T) {
	t.Parallel()
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Run("QR sign-in from a desktop browser", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, dialect, worldSpec{})
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
				rp := newRP(t, w.app, rpSpec{})
				c := w.app.Client()
				c.Header(wecomtest.MemberHeader, "alice")
				f := rp.authorize(t, c, []string{"openid", "profile", "email"})
				if f.final == nil || f.final.Request.URL.Path != "/signin" {
					t.Fatalf("not sent to sign in: %v", f.hops)
				}
				start, ok := f.final.Find(`a[href^="/auth/wecom/corp/start"]`).Attr("href")
				if !ok || !strings.Contains(start, "oidc%2Flogin") {
					t.Fatalf("no WeCom button coming back to the hand-off: %q", start)
				}
				rp.follow(t, c, f, start)
				if !throughWeCom(withoutRP(f.hops), w) {
					t.Errorf("did not go through WeCom: %v", f.hops)
				}
				tok, err := rp.exchange(t, f, f.code(t))
				if err != nil {
					t.Fatal(err)
				}
				id := rp.idToken(t, tok, f.nonce)
				var claims map[string]any
				id.Claims(&claims)
				if claims["preferred_username"] != "alice" {
					t.Errorf("claims %v", claims)
				}
			})
			t.Run("auto login inside the WeCom client", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, dialect, worldSpec{AutoLogin: true})
				w.bind(t, w.a, w.app.CreateUser("alice", "", false, "13800000001"), "alice")
				rp := newRP(t, w.app, rpSpec{})
				c := w.app.Client()
				c.UserAgent = wecom.UserAgentIOS
				c.Header(wecomtest.MemberHeader, "alice")
				f := rp.authorize(t, c, nil)
				if f.final != nil {
					t.Fatalf("stopped on a page %d %q: %v", f.final.StatusCode, f.final.Request.URL, f.hops)
				}
				if !throughWeCom(withoutRP(f.hops), w) {
					t.Errorf("did not go through WeCom: %v", f.hops)
				}
				tok, err := rp.exchange(t, f, f.code(t))
				if err != nil {
					t.Fatal(err)
				}
				rp.idToken(t, tok, f.nonce)
			})
		})
	}
}

// withoutRP drops the final redirect to the relying party, which is not on Gatehouse's origin either.
func withoutRP(hops []string) []string {
	var out []string
	for _, h := range hops {
		if !strings.HasPrefix(h, rpRedirect) {
			out = append(out, h)
		}
	}
	return out
}
