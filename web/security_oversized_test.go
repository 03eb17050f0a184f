package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/web/webtest"
)

// TestSecurityOversizedUsername: a 10,000-character username (or 5,000 multi-byte characters) at the password
// form is a wrong password like any other, on both databases: 401, never a 500, and the per-account
// throttle still counts it (the sixth try is refused with 429), without a database error in the log.
func TestSecurityOversizedUsername(t *testing.T) {
	for _, name := range []struct{ kind, username string }{
		{"ascii", strings.Repeat("u", 10000)},
		// 5,000 three-byte characters: 45 KB once percent-encoded, under the 64 KiB body limit.
		{"multi-byte", strings.Repeat("用", 5000)},
	} {
		t.Run(name.kind, func(t *testing.T) {
			webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
				for try := 1; try <= 6; try++ {
					r := app.Client().Post("/signin", url.Values{"username": {name.username}, "password": {"wrong-password"}})
					want := http.StatusUnauthorized
					if try == 6 {
						want = http.StatusTooManyRequests
					}
					if r.StatusCode != want {
						t.Fatalf("try %d: status %d, want %d", try, r.StatusCode, want)
					}
				}
				if strings.Contains(app.Logs(), "level=ERROR") {
					t.Errorf("the server logged an error:\n%.500s", app.Logs()[strings.Index(app.Logs(), "level=ERROR"):])
				}
			})
		})
	}
}
