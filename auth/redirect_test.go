package auth_test

import (
	"net/url"
	"strings"
	"testing"

	"gatehouse/auth"
	"gatehouse/web/securitytest"
)

const fallback = "/home"

// TestSecuritySafeRedirect: the rule behind every redirect target Gatehouse accepts (DESIGN.md §6).
// TestSecurityOpenRedirect in web/ tries the same attacks through the real routes.
func TestSecuritySafeRedirect(t *testing.T) {
	tests := []struct {
		name, target, want string
	}{
		{"local path is kept", "/admin/users", "/admin/users"},
		{"root is kept", "/", "/"},
		{"query and fragment are kept", "/admin/audit?action=signin.&page=2#top", "/admin/audit?action=signin.&page=2#top"},
		{"encoded space in a path is kept", "/account/a%20b", "/account/a%20b"},
		{"empty falls back", "", fallback},
		{"relative path falls back", "admin", fallback},
		{"dot-relative path falls back", "./admin", fallback},
		{"protocol-relative URL falls back", "//evil.com", fallback},
		{"protocol-relative URL with path falls back", "//evil.com/admin", fallback},
		{"backslash host falls back", "/\\evil.com", fallback},
		{"backslash later in the path falls back", "/a\\b", fallback},
		{"absolute https URL falls back", "https://evil.com/", fallback},
		{"absolute http URL falls back", "http://evil.com", fallback},
		{"javascript URL falls back", "javascript:alert(1)", fallback},
		{"data URL falls back", "data:text/html,<script>alert(1)</script>", fallback},
		{"encoded double slash falls back", "/%2F%2Fevil.com", fallback},
		{"encoded slash after slash falls back", "/%2fevil.com", fallback},
		{"encoded backslash falls back", "/%5Cevil.com", fallback},
		{"double-encoded double slash falls back", "/%252F%252Fevil.com", fallback},
		{"triple-encoded double slash falls back", "/%25252F%25252Fevil.com", fallback},
		{"bad percent escape falls back", "/%zz", fallback},
		{"tab before double slash falls back", "\t//evil.com", fallback},
		{"tab inside double slash falls back", "/\t/evil.com", fallback},
		{"newline falls back", "/admin\nLocation: https://evil.com", fallback},
		{"encoded newline falls back", "/admin%0d%0aSet-Cookie:x=y", fallback},
		{"NUL falls back", "/admin\x00", fallback},
		{"DEL falls back", "/admin\x7f", fallback},
		{"leading space falls back", " /admin", fallback},
		{"user info falls back", "//user@evil.com", fallback},
		{"scheme-less host with colon falls back", "evil.com:80/x", fallback},
		{"line separator falls back", "/a\u2028b", fallback},
		{"very long path falls back", "/" + strings.Repeat("a", 3000), fallback},
		{"scheme without slashes falls back", "https:evil.com", fallback},
		{"scheme with one slash falls back", "https:/evil.com", fallback},
		{"upper-case scheme falls back", "HTTPS://evil.com", fallback},
		{"encoded tab inside double slash falls back", "/%09/evil.com", fallback},
		{"fullwidth solidus look-alike falls back", "／／evil.com", fallback},
		{"ideographic full stop look-alike falls back", "。evil.com", fallback},
		{"division slash look-alike is a local path", "/\u2215evil.com", "/\u2215evil.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			securitytest.Report(t, "SafeRedirect: "+tt.name, tt.want, auth.SafeRedirect(tt.target, fallback))
		})
	}
}

// FuzzSafeRedirect checks the invariant of SafeRedirect: the result is the fallback, or a local path
// that stays local however many times a browser or a proxy percent-decodes it.
func FuzzSafeRedirect(f *testing.F) {
	for _, s := range []string{"/admin", "//evil", "/\\evil", "https://x", "javascript:alert(1)", "/%2F%2Fevil.com",
		"/%5Cevil", "/%252F%252Fevil", "\t//x", "", "admin", "/a?b=c#d", "/%2e%2e/", "/%", "/\u2028", "/a%0a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := auth.SafeRedirect(target, fallback)
		if got == fallback {
			return
		}
		if got != target {
			t.Fatalf("SafeRedirect(%q) = %q: neither the target nor the fallback", target, got)
		}
		s := got
		for round := 0; ; round++ {
			if round > 8 {
				t.Fatalf("SafeRedirect accepted %q which keeps changing under percent-decoding", target)
			}
			assertLocal(t, target, s)
			dec, err := url.PathUnescape(s)
			if err != nil {
				t.Fatalf("SafeRedirect accepted %q whose decoding %q is not valid: %v", target, s, err)
			}
			if dec == s {
				break
			}
			s = dec
		}
	})
}

func assertLocal(t *testing.T, target, s string) {
	t.Helper()
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		t.Fatalf("SafeRedirect accepted %q: %q does not start with a single /", target, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			t.Fatalf("SafeRedirect accepted %q: %q holds %q", target, s, r)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("SafeRedirect accepted %q: %q does not parse: %v", target, s, err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil {
		t.Fatalf("SafeRedirect accepted %q: %q has scheme %q host %q", target, s, u.Scheme, u.Host)
	}
}

func TestInsecureOrigin(t *testing.T) {
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://gate.example.com", false},
		{"http://gate.example.com", true},
		{"http://localhost:8080", false},
		{"http://127.0.0.1:8080", false},
		{"http://[::1]:8080", false},
		{"http://localhost.evil.example", true}, // a name that starts like localhost is not loopback
		{"http://127.example.com", true},
	}
	for _, tt := range tests {
		if got := auth.InsecureOrigin(tt.origin); got != tt.want {
			t.Errorf("InsecureOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}
