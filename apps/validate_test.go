package apps

import (
	"strings"
	"testing"
)

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"wiki.corp.example", "wiki.corp.example", true},
		{"wiki.corp.example", "docs.corp.example", false},
		{"*.tools.corp.example", "ci.tools.corp.example", true},
		{"*.tools.corp.example", "a.b.tools.corp.example", true},
		{"*.tools.corp.example", "tools.corp.example", false}, // the bare suffix is not covered
		{"*.tools.corp.example", "xtools.corp.example", false},
		{"*.tools.corp.example", "*.tools.corp.example", true},
		{"*.corp.example", "*.tools.corp.example", true},
		{"*.tools.corp.example", "*.other.corp.example", false},
		{"*.ols.corp.example", "*.tools.corp.example", false},
	} {
		if got := Overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlaps(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := Overlaps(tc.b, tc.a); got != tc.want {
			t.Errorf("Overlaps(%q, %q) = %v (not symmetric)", tc.b, tc.a, got)
		}
	}
}

func TestDomainProblem(t *testing.T) {
	for d, want := range map[string]string{
		"grafana.corp.example":               "",
		"*.tools.corp.example":               "",
		"*.localhost":                        "",
		"intranet":                           "",
		"a-1.b2.example":                     "",
		"https://grafana.corp.example":       "domain_scheme",
		"grafana.corp.example/":              "domain_path",
		"grafana.corp.example?x":             "domain_path",
		"grafana.corp.example:443":           "domain_port",
		"[::1]":                              "domain_ip",
		"::1":                                "domain_ip",
		"grafana..example":                   "domain",
		"-grafana.example":                   "domain",
		"grafana-.example":                   "domain",
		"gra_fana.example":                   "domain",
		"grafana.example.":                   "domain",
		"*":                                  "domain",
		"*.":                                 "domain",
		"a.*.example":                        "domain",
		"**.example":                         "domain",
		"grafana.例子":                         "domain",
		strings.Repeat("a", 64) + ".example": "domain",
		"192.168.1.10":                       "domain_ip",
		"*.com":                              "domain_wildcard",
	} {
		if got := DomainProblem(d); got != want {
			t.Errorf("DomainProblem(%q) = %q, want %q", d, got, want)
		}
	}
}

func TestRedirectURIProblem(t *testing.T) {
	for u, want := range map[string]string{
		"https://grafana.corp.example/login/generic_oauth": "",
		"https://grafana.corp.example:8443/cb?x=1":         "",
		"http://localhost:3000/cb":                         "",
		"http://LOCALHOST/cb":                              "",
		"http://127.0.0.1/cb":                              "",
		"http://127.3.4.5:8080/cb":                         "",
		"http://[::1]:8080/cb":                             "",
		"http://grafana.corp.example/cb":                   "uri_https",
		"http://localhost.evil.example/cb":                 "uri_https",
		"http://128.0.0.1/cb":                              "uri_https",
		"/cb":                                              "uri_absolute",
		"https:///cb":                                      "uri_absolute",
		"mailto:a@b.example":                               "uri_absolute",
		"https://a.example/cb#frag":                        "uri_fragment",
		"https://a.example/cb#":                            "uri_fragment",
		"https://user:pw@a.example/cb":                     "uri_userinfo",
		"https://user@a.example/cb":                        "uri_userinfo",
		"ftp://a.example/cb":                               "uri_scheme",
		"javascript://a.example/%0aalert(1)":               "uri_scheme",
		"https://a.example/c b":                            "uri",
		"https://a.example/c\tb":                           "uri",
		"https://a.example\\@b.example/":                   "uri",
		"https://a.example/" + strings.Repeat("x", 2000):   "uri_too_long",
	} {
		if got := RedirectURIProblem(u); got != want {
			t.Errorf("RedirectURIProblem(%q) = %q, want %q", u, got, want)
		}
	}
}

func TestShownSecret(t *testing.T) {
	s := NewShown([]byte("0123456789abcdef0123456789abcdef"))
	sealed, err := s.Seal(7, "the-secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "the-secret") {
		t.Fatal("sealed in clear")
	}
	if got, ok := s.Open(7, sealed); !ok || got != "the-secret" {
		t.Errorf("Open = %q, %v", got, ok)
	}
	if _, ok := s.Open(8, sealed); ok {
		t.Error("opened for another app")
	}
	if _, ok := NewShown([]byte("another key, another deployment!")).Open(7, sealed); ok {
		t.Error("opened with another key")
	}
	if _, ok := s.Open(7, sealed[:len(sealed)-2]+"xx"); ok {
		t.Error("opened a tampered value")
	}
	if _, ok := s.Open(7, ""); ok {
		t.Error("opened nothing")
	}
}
