package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/web"
	"gatehouse/web/webtest"
)

// /metrics tells a stranger the traffic, sign-in outcomes and process details: on the public listener
// it needs GATEHOUSE_METRICS_TOKEN as a Bearer token, and without a token it is not there at all.
func TestSecurityMetricsAccess(t *testing.T) {
	t.Parallel()
	const token = webtest.MetricsToken
	tests := []struct {
		name          string
		configured    bool // GATEHOUSE_METRICS_TOKEN set
		authorization string
		want          int
	}{
		{"no token configured, none sent", false, "", http.StatusNotFound},
		{"no token configured, one sent", false, "Bearer " + token, http.StatusNotFound},
		{"token configured, none sent", true, "", http.StatusUnauthorized},
		{"token configured, wrong token", true, "Bearer " + token + "x", http.StatusUnauthorized},
		{"token configured, prefix of the token", true, "Bearer " + token[:10], http.StatusUnauthorized},
		{"token configured, right token as Basic", true, "Basic " + token, http.StatusUnauthorized},
		{"token configured, right token", true, "Bearer " + token, http.StatusOK},
		{"token configured, right token, lower-case scheme", true, "bearer " + token, http.StatusOK},
	}
	apps := map[bool]*webtest.App{false: webtest.New(t, "sqlite"), true: webtest.New(t, "sqlite", webtest.WithMetrics())}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := apps[tt.configured].Client()
			if tt.authorization != "" {
				c.Header("Authorization", tt.authorization)
			}
			r := c.Get("/metrics")
			if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.want)
			}
			if has := strings.Contains(r.Body, "go_goroutines"); has != (tt.want == http.StatusOK) {
				t.Fatalf("metrics in the body: %v, want %v", has, tt.want == http.StatusOK)
			}
		})
	}
}

// GATEHOUSE_METRICS_ADDR is a listener of its own that serves /metrics and nothing else, while the
// public listener keeps /metrics closed.
func TestSecurityMetricsAddrServesOnlyMetrics(t *testing.T) {
	t.Parallel()
	for _, withToken := range []bool{false, true} {
		name := "without a token"
		var opts []webtest.Option
		if withToken {
			name = "with a token"
			opts = append(opts, webtest.WithMetrics())
		}
		t.Run(name, func(t *testing.T) {
			opts := append(opts, func(c *web.Config, _ *web.Options) { c.MetricsAddr = "127.0.0.1:0" })
			app := webtest.New(t, "sqlite", opts...)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			mln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- app.Gatehouse.ServeWithMetrics(ctx, ln, mln) }()
			defer func() {
				stop()
				if err := <-served; err != nil {
					t.Errorf("ServeWithMetrics: %v", err)
				}
			}()
			get := func(base, path string, bearer bool) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
				if bearer {
					req.Header.Set("Authorization", "Bearer "+webtest.MetricsToken)
				}
				resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			metricsAddr, publicAddr := mln.Addr().String(), ln.Addr().String()
			status, body := get(metricsAddr, "/metrics", withToken)
			if status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Fatalf("GET /metrics on the metrics address: %d", status)
			}
			if withToken {
				if status, _ := get(metricsAddr, "/metrics", false); status != http.StatusUnauthorized {
					t.Fatalf("GET /metrics on the metrics address without the token: %d, want 401", status)
				}
			}
			for _, p := range []string{"/", "/signin", "/healthz", "/admin", "/metrics/x", "/static/css/app.css"} {
				if status, _ := get(metricsAddr, p, withToken); status != http.StatusNotFound {
					t.Errorf("GET %s on the metrics address: %d, want 404", p, status)
				}
			}
			if status, _ := get(publicAddr, "/signin", false); status != http.StatusOK {
				t.Fatalf("GET /signin on the public address: %d", status)
			}
			if status, _ := get(publicAddr, "/metrics", false); status == http.StatusOK {
				t.Fatal("GET /metrics on the public address without a token: 200")
			}
		})
	}
}
