package web_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/web/webtest"
)

// serveLoopback runs app's Gatehouse through its own Serve (the production http.Server settings) on a
// loopback listener and returns its base URL.
func serveLoopback(t *testing.T, app *webtest.App) string {
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
