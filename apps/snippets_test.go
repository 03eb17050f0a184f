package apps

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"gatehouse/models"
)

const testOrigin = "https://gate.corp.example"

var (
	proxyApp = models.App{Name: "wiki", Title: "Team wiki", Type: models.AppTypeProxy, ClientID: "cid-wiki",
		Domains: []string{"wiki.corp.example", "*.tools.corp.example"}}
	oidcApp = models.App{Name: "grafana", Title: "Grafana", Type: models.AppTypeOIDC, ClientID: "cid-grafana-0123456789",
		RedirectURIs: []string{"https://grafana.corp.example/oauth2/callback", "https://other.example/cb"}}
)

func snippet(t *testing.T, list []Snippet, id string) string {
	t.Helper()
	for _, s := range list {
		if s.ID == id {
			return s.Text
		}
	}
	t.Fatalf("no snippet %q", id)
	return ""
}

// wantLines checks that every line of want appears, trimmed, as a line of text, in this order.
func wantLines(t *testing.T, name, text string, want ...string) {
	t.Helper()
	got := strings.Split(text, "\n")
	i := 0
	for _, w := range want {
		for i < len(got) && strings.TrimSpace(got[i]) != w {
			i++
		}
		if i == len(got) {
			t.Errorf("%s: no line %q (in this order) in:\n%s", name, w, text)
			return
		}
	}
}

// block returns the lines between the line "start" and the next line that closes it.
func block(text, start string) string {
	_, after, ok := strings.Cut(text, start+"\n")
	if !ok {
		return ""
	}
	end := strings.Index(after, "\n    }")
	if end < 0 {
		return ""
	}
	return after[:end]
}

func TestNginxSnippet(t *testing.T) {
	text := snippet(t, ProxySnippets(testOrigin+"/", proxyApp), "nginx")
	wantLines(t, "nginx", text,
		"map $http_upgrade $gatehouse_connection {",
		"default upgrade;",
		"''      close;",
		"}",
		"server {",
		"server_name wiki.corp.example *.tools.corp.example;",
		"location / {",
		"auth_request /_gatehouse;",
		"auth_request_set $gatehouse_location $upstream_http_location;",
		"error_page 401 =302 $gatehouse_location;",
		"auth_request_set $gatehouse_remote_user $upstream_http_remote_user;",
		"auth_request_set $gatehouse_remote_name $upstream_http_remote_name;",
		"auth_request_set $gatehouse_remote_email $upstream_http_remote_email;",
		"auth_request_set $gatehouse_remote_groups $upstream_http_remote_groups;",
		"proxy_set_header Remote-User $gatehouse_remote_user;",
		"proxy_set_header Remote-Name $gatehouse_remote_name;",
		"proxy_set_header Remote-Email $gatehouse_remote_email;",
		"proxy_set_header Remote-Groups $gatehouse_remote_groups;",
		"proxy_set_header Host $http_host;",
		"proxy_set_header X-Forwarded-Proto $scheme;",
		"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
		"proxy_http_version 1.1;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $gatehouse_connection;",
		"proxy_pass http://127.0.0.1:3000;",
		"location = /_gatehouse {",
		"internal;",
		"proxy_pass https://gate.corp.example/auth/proxy/nginx;",
		"proxy_ssl_server_name on;",
		"proxy_ssl_verify on;",
		"proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;",
		"proxy_pass_request_body off;",
		`proxy_set_header Content-Length "";`,
		"proxy_set_header X-Original-URL $scheme://$http_host$request_uri;",
		"proxy_set_header X-Original-Method $request_method;",
	)
	// Client-sent identity headers are cleared on the way to Gatehouse too.
	auth := block(text, "    location = /_gatehouse {")
	for _, h := range RemoteHeaders {
		if !strings.Contains(auth, "proxy_set_header "+h+` "";`) {
			t.Errorf("the auth location does not clear %s:\n%s", h, auth)
		}
	}
	if strings.Count(text, "{") != strings.Count(text, "}") {
		t.Error("unbalanced braces")
	}
	// Gatehouse on plain http (a laptop, a test): no TLS directives that would do nothing.
	plain := snippet(t, ProxySnippets("http://127.0.0.1:8080", proxyApp), "nginx")
	if strings.Contains(plain, "proxy_ssl") || !strings.Contains(plain, "proxy_pass http://127.0.0.1:8080/auth/proxy/nginx;") {
		t.Errorf("nginx snippet for an http origin:\n%s", plain)
	}
}

func TestCaddySnippet(t *testing.T) {
	text := snippet(t, ProxySnippets(testOrigin, proxyApp), "caddy")
	// The client's identity headers are removed first, inside route (Caddy's default order would run
	// request_header after forward_auth and remove Gatehouse's answer instead).
	wantLines(t, "caddy", text,
		"wiki.corp.example, *.tools.corp.example {",
		"route {",
		"request_header -Remote-User",
		"request_header -Remote-Name",
		"request_header -Remote-Email",
		"request_header -Remote-Groups",
		"forward_auth https://gate.corp.example {",
		"uri /auth/proxy/forward",
		"copy_headers Remote-User Remote-Name Remote-Email Remote-Groups",
		"header_up Host {upstream_hostport}",
		"}",
		"reverse_proxy 127.0.0.1:3000",
		"}",
		"}",
	)
	if strings.Count(text, "{") != strings.Count(text, "}") {
		t.Error("unbalanced braces")
	}
}

func TestTraefikSnippet(t *testing.T) {
	text := snippet(t, ProxySnippets(testOrigin, proxyApp), "traefik")
	// Traefik is not installable here (no Debian package, and its module's config decoder is not on
	// the Go proxy this builds with): the text is decoded strictly into the keys of Traefik v3's
	// dynamic configuration it uses (pkg/config/dynamic: HTTPConfiguration, Router, ForwardAuth,
	// ServersLoadBalancer, Server), so a misspelt or misplaced key fails here.
	var cfg struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address             string   `yaml:"address"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Middlewares []string `yaml:"middlewares"`
				Service     string   `yaml:"service"`
				TLS         *struct {
					CertResolver string `yaml:"certResolver"`
				} `yaml:"tls"`
			} `yaml:"routers"`
			Services map[string]struct {
				LoadBalancer struct {
					Servers []struct {
						URL string `yaml:"url"`
					} `yaml:"servers"`
				} `yaml:"loadBalancer"`
			} `yaml:"services"`
		} `yaml:"http"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("not Traefik's dynamic configuration: %v\n%s", err, text)
	}
	if svc := cfg.HTTP.Services["wiki"].LoadBalancer.Servers; len(svc) != 1 || svc[0].URL != "http://127.0.0.1:3000" {
		t.Errorf("service %+v", svc)
	}
	if cfg.HTTP.Routers["wiki"].TLS == nil {
		t.Error("the router does not serve TLS")
	}
	fa := cfg.HTTP.Middlewares["gatehouse"].ForwardAuth
	if fa.Address != testOrigin+"/auth/proxy/forward" || strings.Join(fa.AuthResponseHeaders, ",") != "Remote-User,Remote-Name,Remote-Email,Remote-Groups" {
		t.Errorf("middleware %+v", fa)
	}
	r := cfg.HTTP.Routers["wiki"]
	if r.Rule != "Host(`wiki.corp.example`) || HostRegexp(`^.+\\.tools\\.corp\\.example$`)" || strings.Join(r.Middlewares, ",") != "gatehouse" || r.Service != "wiki" {
		t.Errorf("router %+v", r)
	}
	// The pattern means what the domain means: any name under the suffix, not the suffix itself.
	re := regexp.MustCompile(strings.TrimSuffix(strings.SplitN(r.Rule, "HostRegexp(`", 2)[1], "`)"))
	for host, want := range map[string]bool{"ci.tools.corp.example": true, "a.b.tools.corp.example": true, "tools.corp.example": false, "xtools.corp.example": false, "ci.tools.corp.example.evil": false} {
		if re.MatchString(host) != want {
			t.Errorf("HostRegexp on %s = %v", host, !want)
		}
	}
}

func TestOIDCSnippets(t *testing.T) {
	issuer := Issuer(testOrigin + "/")
	if issuer != "https://gate.corp.example/oidc" || DiscoveryURL(issuer) != "https://gate.corp.example/oidc/.well-known/openid-configuration" {
		t.Fatalf("issuer %q", issuer)
	}
	list := OIDCSnippets(issuer, oidcApp)
	wantLines(t, "grafana", snippet(t, list, "grafana"),
		"[auth.generic_oauth]",
		"enabled = true",
		"client_id = cid-grafana-0123456789",
		"client_secret = PASTE-THE-CLIENT-SECRET",
		"scopes = openid profile email groups offline_access",
		"auth_url = https://gate.corp.example/oidc/authorize",
		"token_url = https://gate.corp.example/oidc/oauth/token",
		"api_url = https://gate.corp.example/oidc/userinfo",
		"use_pkce = true",
		"login_attribute_path = preferred_username",
		"email_attribute_path = email || join('', [preferred_username, '@users.invalid'])",
		"groups_attribute_path = groups",
	)
	wantLines(t, "gitea", snippet(t, list, "gitea"),
		`gitea admin auth add-oauth \`,
		`--name=grafana \`,
		`--provider=openidConnect \`,
		`--key=cid-grafana-0123456789 \`,
		`--secret=PASTE-THE-CLIENT-SECRET \`,
		`--auto-discover-url=https://gate.corp.example/oidc/.well-known/openid-configuration \`,
	)
	wantLines(t, "oauth2-proxy", snippet(t, list, "oauth2-proxy"),
		`--provider=oidc \`,
		`--oidc-issuer-url=https://gate.corp.example/oidc \`,
		`--client-id=cid-grafana-0123456789 \`,
		`--client-secret=PASTE-THE-CLIENT-SECRET \`,
		`--redirect-url=https://grafana.corp.example/oauth2/callback \`,
		`--code-challenge-method=S256 \`,
	)
	wantLines(t, "outline", snippet(t, list, "outline"),
		"OIDC_CLIENT_ID=cid-grafana-0123456789",
		"OIDC_CLIENT_SECRET=PASTE-THE-CLIENT-SECRET",
		"OIDC_AUTH_URI=https://gate.corp.example/oidc/authorize",
		"OIDC_TOKEN_URI=https://gate.corp.example/oidc/oauth/token",
		"OIDC_USERINFO_URI=https://gate.corp.example/oidc/userinfo",
		"OIDC_USERNAME_CLAIM=preferred_username",
	)
	// A public client's snippets have no secret line at all.
	pub := oidcApp
	pub.Public = true
	for _, s := range OIDCSnippets(issuer, pub) {
		if strings.Contains(s.Text, SecretPlaceholder) {
			t.Errorf("%s: a public client's snippet asks for a secret", s.ID)
		}
	}
}

// TestSnippetsPureAndQuoted: the same app gives the same text, and a title or name with shell or
// configuration characters is quoted, never spliced.
func TestSnippetsPureAndQuoted(t *testing.T) {
	for _, f := range []func() []Snippet{
		func() []Snippet { return OIDCSnippets(Issuer(testOrigin), oidcApp) },
		func() []Snippet { return ProxySnippets(testOrigin, proxyApp) },
	} {
		a, b := f(), f()
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("%s differs between two calls", a[i].ID)
			}
		}
	}
	odd := oidcApp
	odd.Title = `Ops "wiki" $HOME`
	out := snippet(t, OIDCSnippets(Issuer(testOrigin), odd), "outline")
	if !strings.Contains(out, `OIDC_DISPLAY_NAME="Ops \"wiki\" \$HOME"`) {
		t.Errorf("outline display name not quoted:\n%s", out)
	}
	if shellQuote("it's") != `'it'\''s'` || shellQuote("abc-1.2") != "abc-1.2" || shellQuote("") != "''" {
		t.Error("shellQuote")
	}
}

// TestProxyDocsShowTheSnippets: the nginx, Caddy (and untested Traefik) recipes of docs/proxy.md and docs/proxy.zh-CN.md
// are the very text the app page shows (and web's TestRealProxies runs) for the docs' example app.
func TestProxyDocsShowTheSnippets(t *testing.T) {
	docApp := models.App{Name: "grafana", Title: "Grafana", Type: models.AppTypeProxy, Domains: []string{"grafana.corp.example"}}
	list := ProxySnippets("https://gate.corp.example", docApp)
	for _, doc := range []string{"../docs/proxy.md", "../docs/proxy.zh-CN.md"} {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct{ id, fence string }{{"nginx", "```nginx\n"}, {"caddy", "```caddyfile\n"}, {"traefik", "```yaml\n"}} {
			_, after, ok := strings.Cut(string(raw), s.fence)
			block, _, closed := strings.Cut(after, "```\n")
			if !ok || !closed {
				t.Errorf("%s: no %s block", doc, s.fence)
				continue
			}
			if want := snippet(t, list, s.id); block != want {
				t.Errorf("%s: the %s recipe is not the app page's snippet; want:\n%s", doc, s.id, want)
			}
		}
	}
}
