package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

// serveLoopback runs app's Gatehouse through its own Serve (the production http.Server settings) on a
// loopback listener and returns its base URL.
func serveLoopback(t *testing.T, app *webtest.App) string {
	t.Helper()
	return serveLoopbackTB(t, app)
}

func serveLoopbackTB(t testing.TB, app *webtest.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- app.Gatehouse.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-served
	})
	return "http://" + ln.Addr().String()
}

// A 1 MB header is refused by the server itself (431) before any handler or cache sees it, while a
// browser's largest real headers (several full 4 KiB cookies) still pass.
func TestSecurityHugeHeaderRefused(t *testing.T) {
	app := webtest.New(t, "sqlite")
	base := serveLoopback(t, app)
	client := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		name   string
		header string
		value  string
		want   int
	}{
		{"1 MB Accept-Language", "Accept-Language", strings.Repeat("a", 1<<20), http.StatusRequestHeaderFieldsTooLarge},
		{"1 MB cookie", "Cookie", "x=" + strings.Repeat("a", 1<<20), http.StatusRequestHeaderFieldsTooLarge},
		{"five full 4 KiB cookies", "Cookie", strings.TrimSuffix(strings.Repeat("c="+strings.Repeat("a", 4000)+"; ", 5), "; "), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+"/signin", nil)
			req.Header.Set(tt.header, tt.value)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET /signin: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// cookieNamed returns the Set-Cookie of a response with that name.
func cookieNamed(r *webtest.Response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Behind a TLS-terminating proxy without GATEHOUSE_BASE_URL, only a trusted proxy's
// X-Forwarded-Proto makes cookies Secure and adds HSTS; a client cannot turn either on or off.
func TestSecurityForwardedProto(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		baseURL string // "" for none
		proxies []string
		xfp     string
		secure  bool
	}{
		{"trusted proxy says https", "", []string{"127.0.0.1"}, "https", true},
		{"trusted proxy CIDR says https, http behind", "", []string{"127.0.0.0/8"}, "https, http", true},
		{"trusted proxy says http", "", []string{"127.0.0.1"}, "http", false},
		{"untrusted client says https", "", []string{"10.0.0.0/8"}, "https", false},
		{"no trusted proxies, client says https", "", nil, "https", false},
		{"https base URL, no header", "https://gate.example.com", nil, "", true},
		{"http base URL, untrusted client says https", "http://gate.example.com", nil, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt := func(c *web.Config, _ *web.Options) {
				c.BaseURL = nil
				if tt.baseURL != "" {
					c.BaseURL, _ = url.Parse(tt.baseURL)
				}
				c.TrustedProxies = tt.proxies
			}
			webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
				fxUser(t, app, "alice", false)
				app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: "s"})
				c := app.Client()
				if tt.xfp != "" {
					c.Header("X-Forwarded-Proto", tt.xfp)
				}
				signin := c.Post("/signin", fxForm("username", "alice", "password", fxPassword))
				start := c.Get("/auth/wecom/corp/start")
				lang := c.Post("/lang", fxForm("lang", "zh", "redirect", "/signin"))
				for _, got := range []struct {
					what   string
					cookie *http.Cookie
				}{{"session cookie", cookieNamed(signin, auth.SessionCookie)}, {"state cookie", cookieNamed(start, "gatehouse_wecom_state")}, {"language cookie", cookieNamed(lang, "gatehouse_lang")}} {
					if got.cookie == nil {
						t.Fatalf("no %s set", got.what)
					}
					if got.cookie.Secure != tt.secure {
						t.Errorf("%s Secure = %v, want %v", got.what, got.cookie.Secure, tt.secure)
					}
				}
				for _, r := range []*webtest.Response{signin, start, c.Get("/signin")} {
					hsts := r.Header.Get("Strict-Transport-Security")
					if tt.secure && hsts != "max-age=31536000" || !tt.secure && hsts != "" {
						t.Errorf("%s %s: Strict-Transport-Security %q, want it only on https", r.Request.Method, r.Request.URL.Path, hsts)
					}
				}
			}, opt)
		})
	}
}
