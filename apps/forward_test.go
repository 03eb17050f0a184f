package apps

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"gatehouse/models"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		domain, host string
		want         bool
	}{
		{"grafana.corp.example", "grafana.corp.example", true},
		{"grafana.corp.example", "Grafana.Corp.Example:8443", true},
		{"grafana.corp.example", "grafana.corp.example.", true},
		{"grafana.corp.example", "x.grafana.corp.example", false},
		{"grafana.corp.example", "grafana.corp.example.evil", false},
		{"*.tools.corp.example", "a.tools.corp.example", true},
		{"*.tools.corp.example", "a.b.tools.corp.example:80", true},
		{"*.tools.corp.example", "tools.corp.example", false},
		{"*.tools.corp.example", "eviltools.corp.example", false},
		{"*.tools.corp.example", "", false},
		{"localhost", "localhost:8081", true},
		{"*.localhost", "app.localhost:9000", true},
	} {
		if got := Covers(tc.domain, tc.host); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.domain, tc.host, got, tc.want)
		}
	}
}

func TestOriginalRequest(t *testing.T) {
	h := http.Header{}
	h.Set("X-Forwarded-Proto", "https")
	h.Set("X-Forwarded-Host", "app.corp.example")
	h.Set("X-Forwarded-Uri", "/a/b?c=d")
	h.Set("X-Forwarded-Method", "post")
	o, ok := FromForwarded(h)
	if !ok || o.URL() != "https://app.corp.example/a/b?c=d" || o.Method != "POST" {
		t.Fatalf("FromForwarded = %+v %v", o, ok)
	}
	n := http.Header{}
	n.Set("X-Original-URL", "http://app.corp.example:8080/x%20y?q=1")
	o, ok = FromNginx(n)
	if !ok || o.URL() != "http://app.corp.example:8080/x%20y?q=1" || o.Method != "GET" {
		t.Fatalf("FromNginx = %+v %v", o, ok)
	}
	for _, bad := range []http.Header{
		{"X-Forwarded-Proto": {"javascript"}, "X-Forwarded-Host": {"a.example"}},
		{"X-Forwarded-Proto": {"https"}},
		{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"//evil.example/"}},
		{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"a.example/evil"}},
	} {
		if o, ok := FromForwarded(bad); ok {
			t.Errorf("FromForwarded(%v) accepted %+v", bad, o)
		}
	}
	if _, ok := FromNginx(http.Header{"X-Original-Url": {"https://u:p@a.example/"}}); ok {
		t.Error("FromNginx accepted userinfo")
	}
}

func TestIdentityOf(t *testing.T) {
	id := IdentityOf(models.User{Username: "alice", Nickname: "王 Alice/1", Email: "a@x"}, []string{"ops", "dev", "ops"})
	if id.User != "alice" || id.Name != "%E7%8E%8B%20Alice%2F1" || id.Email != "a@x" || id.Groups != "dev,ops" {
		t.Fatalf("IdentityOf = %+v", id)
	}
	if id := IdentityOf(models.User{Username: "bob"}, nil); id.Name != "bob" || id.Groups != "" || id.Email != "" {
		t.Fatalf("IdentityOf without nickname = %+v", id)
	}
	h := http.Header{}
	IdentityOf(models.User{Username: "bob"}, nil).Set(h)
	for _, k := range []string{"Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups"} {
		if _, ok := h[k]; !ok {
			t.Errorf("%s not set", k)
		}
	}
}

func TestAppFor(t *testing.T) {
	list := []models.App{
		{Name: "wild", Type: models.AppTypeProxy, Enabled: true, Domains: []string{"*.corp.example"}},
		{Name: "exact", Type: models.AppTypeProxy, Enabled: true, Domains: []string{"grafana.corp.example"}},
		{Name: "off", Type: models.AppTypeProxy, Enabled: false, Domains: []string{"off.example"}},
		{Name: "oidc", Type: models.AppTypeOIDC, Enabled: true, Domains: []string{"oidc.example"}},
	}
	for host, want := range map[string]string{"grafana.corp.example": "exact", "x.corp.example": "wild", "off.example": "", "oidc.example": "", "corp.example": ""} {
		a, ok := AppFor(list, host)
		if ok != (want != "") || a.Name != want {
			t.Errorf("AppFor(%q) = %q, %v; want %q", host, a.Name, ok, want)
		}
	}
}

func TestRDShape(t *testing.T) {
	origin := &url.URL{Scheme: "https", Host: "gate.corp.example"}
	for rd, want := range map[string]bool{
		"https://app.corp.example/x?y=1":         true,
		"https://app.corp.example":               true,
		"http://app.corp.example/":               false,
		"//app.corp.example/":                    false,
		"https://u@app.corp.example/":            false,
		"https://app.corp.example@evil.example/": false,
		"javascript:alert(1)":                    false,
		"https:app.corp.example":                 false,
		"https:/app.corp.example/":               false,
		"https://app.corp.example\\@evil/":       false,
		"https://app.corp.example%2F@evil/":      false,
		"https://app.corp.example/%2F%2Fevil":    false,
		"https://app.corp.example/\n":            false,
		"/local":                                 false,
	} {
		if _, ok := rdShape(rd, origin); ok != want {
			t.Errorf("rdShape(%q) = %v, want %v", rd, ok, want)
		}
	}
}

func TestShouldAuditOncePerMinute(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f := NewForward(nil, nil, func() time.Time { return now })
	if !f.ShouldAudit(1, 7) || f.ShouldAudit(1, 7) {
		t.Fatal("a second refusal within the minute is audited")
	}
	if !f.ShouldAudit(2, 7) || !f.ShouldAudit(1, 8) {
		t.Fatal("another user or app shares the limit")
	}
	now = now.Add(59 * time.Second)
	if f.ShouldAudit(1, 7) {
		t.Fatal("audited again before a minute passed")
	}
	now = now.Add(2 * time.Second)
	if !f.ShouldAudit(1, 7) {
		t.Fatal("not audited again after a minute")
	}
	for i := range int64(maxCached + 10) { // the limiter stays bounded
		f.ShouldAudit(i+100, 1)
	}
	if len(f.audited) > maxCached {
		t.Fatalf("limiter holds %d entries", len(f.audited))
	}
}

func TestSigninURL(t *testing.T) {
	origin, _ := url.Parse("https://gate.corp.example")
	o := Original{Scheme: "https", Host: "grafana.corp.example", URI: "/d/a b?x=1&y=2"}
	if got := SigninURL(origin, o); got != "https://gate.corp.example/signin?rd=https%3A%2F%2Fgrafana.corp.example%2Fd%2Fa+b%3Fx%3D1%26y%3D2" {
		t.Fatalf("SigninURL = %s", got)
	}
}
