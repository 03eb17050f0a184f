package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// Names of the real-proxy tests: Gatehouse and the app share the parent domain of the session
// cookie. Every name is resolved to 127.0.0.1 by the test's clients (nothing leaves loopback).
const (
	proxyCookieDomain = "corp.example.com"
	proxyGateHost     = "gate.corp.example.com"
	proxyAppHost      = "app.corp.example.com"
	proxyDeniedHost   = "ops.corp.example.com"
)

// realProxy is a reverse proxy started by a test: its name, binary, the snippet of apps.ProxySnippets
// it runs, and how a standalone instance is made of it.
type realProxy struct {
	name, binary, snippet string
	// site turns the admin page's snippet for one app into what the test runs, by mechanical
	// substitutions only: listen on 127.0.0.1:port, the upstream placeholder → upstream, Gatehouse's
	// public origin → gatehouse (the test server's scheme://host:port, as the public name does not resolve).
	site func(t *testing.T, text string, app models.App, port int, origin, gatehouse, upstream string) string
	// wrap is the minimal standalone configuration around the sites: what the snippet leaves to the
	// admin's existing nginx.conf or Caddyfile (events/http blocks and temp paths; Caddy's global options).
	wrap  func(dir string, sites []string) string
	start func(t *testing.T, dir, conf string) *exec.Cmd
}

// replaceOnce replaces old by new in text, failing the test unless old occurs exactly once: a snippet
// that no longer has the line the substitution expects must fail loudly, not run unsubstituted.
func replaceOnce(t *testing.T, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("the snippet has %q %d times, want once:\n%s", old, n, text)
	}
	return strings.Replace(text, old, new, 1)
}

func nginxSite(t *testing.T, text string, _ models.App, port int, origin, gatehouse, upstream string) string {
	text = replaceOnce(t, text, "    listen 443 ssl;\n", fmt.Sprintf("    listen 127.0.0.1:%d;\n", port))
	text = replaceOnce(t, text, "proxy_pass http://"+apps.UpstreamPlaceholder+";", "proxy_pass http://"+upstream+";")
	return replaceOnce(t, text, "proxy_pass "+origin+apps.ProxyNginxPath+";", "proxy_pass "+gatehouse+apps.ProxyNginxPath+";")
}

func nginxWrap(dir string, sites []string) string {
	return fmt.Sprintf(`error_log %[1]s/error.log info;
events {}
http {
access_log off;
client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, strings.Join(sites, "\n"))
}

func caddySite(t *testing.T, text string, app models.App, port int, origin, gatehouse, upstream string) string {
	var addrs []string
	for _, d := range app.Domains {
		addrs = append(addrs, fmt.Sprintf("http://%s:%d", d, port))
	}
	text = replaceOnce(t, text, "\n"+strings.Join(app.Domains, ", ")+" {\n", "\n"+strings.Join(addrs, ", ")+" {\n")
	text = replaceOnce(t, text, "forward_auth "+origin+" {", "forward_auth "+gatehouse+" {")
	return replaceOnce(t, text, "reverse_proxy "+apps.UpstreamPlaceholder+"\n", "reverse_proxy "+upstream+"\n")
}

func caddyWrap(dir string, sites []string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	default_bind 127.0.0.1
	storage file_system %[1]s/data
}
%[2]s`, dir, strings.Join(sites, "\n"))
}

var realProxies = []realProxy{
	{name: "nginx", binary: "nginx", snippet: "nginx", site: nginxSite, wrap: nginxWrap, start: func(t *testing.T, dir, conf string) *exec.Cmd {
		return exec.Command("nginx", "-p", dir, "-c", conf, "-g", "daemon off; pid "+dir+"/nginx.pid;")
	}},
	{name: "caddy", binary: "caddy", snippet: "caddy", site: caddySite, wrap: caddyWrap, start: func(t *testing.T, dir, conf string) *exec.Cmd {
		cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
		return cmd
	}},
}

// proxyConfig is the configuration the test runs: the admin page's snippet (apps.ProxySnippets) of
// every app, substituted and wrapped, as the admin would paste them into one nginx or Caddy.
func proxyConfig(t *testing.T, p realProxy, dir string, port int, origin, gatehouse, upstream string, list ...models.App) string {
	t.Helper()
	var sites []string
	for _, a := range list {
		var text string
		for _, s := range apps.ProxySnippets(origin, a) {
			if s.ID == p.snippet {
				text = s.Text
			}
		}
		if text == "" {
			t.Fatalf("no %s snippet for %s", p.snippet, a.Name)
		}
		sites = append(sites, p.site(t, text, a, port, strings.TrimRight(origin, "/"), "http://"+gatehouse, upstream))
	}
	return p.wrap(dir, sites)
}

// findProxy returns the proxy's binary path, skipping the test when it is not installed (failing it
// under CI=true, where .ci/run installs both).
func findProxy(t *testing.T, p realProxy) string {
	path, err := exec.LookPath(p.binary)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(dir, p.binary)); err == nil {
			return filepath.Join(dir, p.binary)
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (apt-get install %s)", p.binary, p.binary)
	}
	t.Skipf("%s is not installed", p.binary)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRealProxySnippetsParse: the admin page's snippets for a Gatehouse on https (the TLS directives the
// running tests, on plain http, do not have) and an app with a wildcard domain are accepted by nginx -t
// and caddy validate.
func TestRealProxySnippetsParse(t *testing.T) {
	a := models.App{Name: "wiki", Title: "Team wiki", Type: models.AppTypeProxy, Domains: []string{"wiki.corp.example", "*.tools.corp.example"}}
	for _, p := range realProxies {
		t.Run(p.name, func(t *testing.T) {
			bin := findProxy(t, p)
			dir := t.TempDir()
			var text string
			for _, s := range apps.ProxySnippets("https://gate.corp.example", a) {
				if s.ID == p.snippet {
					text = s.Text
				}
			}
			// The public name does not resolve here (nginx resolves proxy_pass hosts when it loads).
			config := p.wrap(dir, []string{p.site(t, text, a, 8443, "https://gate.corp.example", "https://127.0.0.1:9443", "127.0.0.1:3000")})
			conf := filepath.Join(dir, p.name+".conf")
			must(t, os.WriteFile(conf, []byte(config), 0o644))
			var cmd *exec.Cmd
			if p.name == "nginx" {
				if !strings.Contains(config, "proxy_ssl_verify on;") || !strings.Contains(config, "proxy_pass https://127.0.0.1:9443/auth/proxy/nginx;") {
					t.Fatalf("not the https snippet:\n%s", config)
				}
				cmd = exec.Command(bin, "-t", "-p", dir, "-c", conf, "-g", "pid "+dir+"/nginx.pid;")
			} else {
				cmd = exec.Command(bin, "validate", "--config", conf, "--adapter", "caddyfile")
				cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s refuses the snippet: %v\n%s\n%s", p.name, err, out, config)
			}
		})
	}
}

// startProxy runs the proxy with the admin page's snippets of the apps (origin: Gatehouse's public
// origin, which the snippets name; gatehouse: the test server's host:port) until the test ends,
// waiting until it listens.
func startProxy(t *testing.T, p realProxy, origin, gatehouse, upstream string, list ...models.App) int {
	t.Helper()
	bin := findProxy(t, p)
	dir := t.TempDir()
	for _, sub := range []string{"logs", "data", "config"} {
		must(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	port := freePort(t)
	conf := filepath.Join(dir, p.name+".conf")
	config := proxyConfig(t, p, dir, port, origin, gatehouse, upstream, list...)
	must(t, os.WriteFile(conf, []byte(config), 0o644))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s configuration:\n%s", p.name, config)
		}
	})
	cmd := p.start(t, dir, conf)
	cmd.Path = bin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so nginx's workers end with it; WaitDelay so a straggler holding the
	// output pipe cannot hang the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("%s output:\n%s\n%s", p.name, out.String(), log)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatalf("%s did not start listening: %s", p.name, out.String())
	return 0
}

// echoUpstream is the protected app: it answers with the request headers it received, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// A WebSocket-like upgrade: 101 naming who the proxy said it is, then echo one line.
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSeen-Remote-User: %s\r\n\r\n", r.Header.Get("Remote-User"))
			_ = rw.Flush()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if line, err := rw.ReadString('\n'); err == nil {
				_, _ = rw.WriteString("echo " + line)
				_ = rw.Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "method": r.Method, "host": r.Host, "headers": r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// proxyWorld is Gatehouse on gate.corp.example.com with the session cookie on corp.example.com, a
// WeCom simulator with alice (bound) and bob, a proxy app for app.corp.example.com open to everyone
// and one for ops.corp.example.com open to the group ops (alice is not in it).
type proxyWorld struct {
	app  *webtest.App
	sim  *wecomtest.Sim
	base string       // Gatehouse's public origin
	apps []models.App // the proxy apps, whose snippets the proxy runs
}

func newProxyWorld(t *testing.T, dialect string) *proxyWorld {
	t.Helper()
	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.New(t, dialect, webtest.WithWeCom(simSrv.URL), func(c *web.Config, _ *web.Options) {
		_, port, _ := net.SplitHostPort(c.Addr)
		c.BaseURL = &url.URL{Scheme: "http", Host: proxyGateHost + ":" + port}
		c.CookieDomain = proxyCookieDomain
	})
	base := app.Config.BaseURL.String()
	must(t, sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: []string{app.Config.BaseURL.Host}, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}))
	must(t, sim.AddMember(corpID, wecomtest.Member{UserID: "alice", Name: "Alice Wang", Mobile: "13800000001", Email: "alice@acme.test"}))
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, Origin: base})
	w := &wecomWorld{app: app, sim: sim, a: a}
	alice := app.CreateUser("alice", "", false, "13800000001")
	alice.Nickname, alice.Email = "Alice Wang", "alice@acme.test"
	must(t, app.Store.SaveUser(context.Background(), &alice))
	w.bind(t, a, alice, "alice")
	demo := proxyApp(t, app, "demo", true, nil, proxyAppHost)
	ops := proxyApp(t, app, "ops", true, []string{"ops"}, proxyDeniedHost)
	group(t, app, "ops", "user:nobody")
	return &proxyWorld{app: app, sim: sim, base: base, apps: []models.App{demo, ops}}
}

// browser is a cookie-jar client that resolves every *.corp.example.com name to 127.0.0.1 and
// does not follow redirects (the test follows them, to see each hop).
type browser struct {
	t    *testing.T
	http *http.Client
	hdr  http.Header
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil) // no public suffix list: a Domain cookie for corp.example.com is kept
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(host, "."+proxyCookieDomain) {
			host = "127.0.0.1"
		}
		if host != "127.0.0.1" {
			return nil, fmt.Errorf("test browser dials only loopback, not %s", host)
		}
		return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, hdr: http.Header{}, http: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	location string
	body     string
	url      *url.URL
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range b.hdr {
		req.Header[k] = v
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: buf.String(), url: resp.Request.URL}
}

// follow gets u and follows redirects (at most 12), returning every URL visited and the last page.
func (b *browser) follow(u string) ([]string, page) {
	b.t.Helper()
	visited := []string{u}
	p := b.get(u)
	for i := 0; i < 12 && p.status >= 300 && p.status < 400; i++ {
		next, err := p.url.Parse(p.location)
		if err != nil {
			b.t.Fatal(err)
		}
		visited = append(visited, next.String())
		p = b.get(next.String())
	}
	return visited, p
}

// upstreamSaw decodes the echo upstream's answer.
func upstreamSaw(t *testing.T, p page) (path string, h http.Header) {
	t.Helper()
	var v struct {
		Path    string
		Headers http.Header
	}
	if p.status != 200 || json.Unmarshal([]byte(p.body), &v) != nil {
		t.Fatalf("not the upstream's answer: %d %.300s", p.status, p.body)
	}
	return v.Path, v.Headers
}

// TestRealProxies runs forward-auth through Debian's nginx and Caddy configured with the very snippets
// the admin page shows for the two apps (apps.ProxySnippets, see proxyConfig): anonymous → Gatehouse's
// sign-in page → WeCom sign-in (simulator) → back on the original URL with the identity headers at
// the upstream; a forged Remote-User never reaches the upstream; the app gets the browser's Host, other
// methods and WebSocket upgrades; a denied group gets 403; signing out of Gatehouse ends access through
// the proxy.
func TestRealProxies(t *testing.T) {
	for _, p := range realProxies {
		t.Run(p.name, func(t *testing.T) {
			findProxy(t, p)
			for _, dialect := range modelstest.Dialects() {
				t.Run(dialect, func(t *testing.T) {
					w := newProxyWorld(t, dialect)
					up := echoUpstream(t)
					gate := strings.TrimPrefix(w.app.URL(), "http://")
					port := startProxy(t, p, w.base, gate, strings.TrimPrefix(up.URL, "http://"), w.apps...)
					appURL := fmt.Sprintf("http://%s:%d", proxyAppHost, port)
					target := appURL + "/dashboards/1?from=now-1h&q=a%20b"

					b := newBrowser(t)
					// A forged identity from the browser, on every request.
					b.hdr.Set("Remote-User", "root")
					b.hdr.Set("Remote-Email", "root@evil.example")
					b.hdr.Set("Remote-Groups", "admins")

					// Anonymous: sent to Gatehouse's sign-in page with rd = the original URL.
					visited, signin := b.follow(target)
					if len(visited) < 2 || !strings.HasPrefix(visited[1], w.base+"/signin?rd=") || signin.status != 200 {
						t.Fatalf("anonymous visit did not reach the sign-in page: %v → %d", visited, signin.status)
					}
					if rd, _ := url.Parse(visited[1]); rd.Query().Get("rd") != target {
						t.Fatalf("rd = %q, want %q", rd.Query().Get("rd"), target)
					}
					doc, _ := goquery.NewDocumentFromReader(strings.NewReader(signin.body))
					href, ok := doc.Find(`a[href*="/auth/wecom/corp/start"]`).Attr("href")
					if !ok {
						t.Fatalf("no WeCom button on the sign-in page")
					}
					// WeCom sign-in through the simulator, which signs alice in by itself.
					b.hdr.Set(wecomtest.MemberHeader, "alice")
					visited, landed := b.follow(w.base + href)
					if last := visited[len(visited)-1]; last != target {
						t.Fatalf("after sign-in the browser is on %q, want %q (hops %v)", last, target, visited)
					}
					path, h := upstreamSaw(t, landed)
					if path != "/dashboards/1?from=now-1h&q=a%20b" {
						t.Fatalf("upstream saw path %q", path)
					}
					got := fmt.Sprintf("%q %q %q %q", h.Values("Remote-User"), h.Values("Remote-Name"), h.Values("Remote-Email"), h.Values("Remote-Groups"))
					want := fmt.Sprintf("%q %q %q %q", []string{"alice"}, []string{"Alice%20Wang"}, []string{"alice@acme.test"}, []string(nil))
					if got != want && got != fmt.Sprintf("%q %q %q %q", []string{"alice"}, []string{"Alice%20Wang"}, []string{"alice@acme.test"}, []string{""}) {
						t.Fatalf("upstream saw identity %s; want %s (never the forged root/admins)", got, want)
					}

					// The app sees the Host the browser sent and how it came (nginx's snippet sets them as
					// Caddy does by default), so it can build its own absolute URLs.
					var sawHost struct{ Host string }
					_ = json.Unmarshal([]byte(landed.body), &sawHost)
					if host, proto := sawHost.Host, h.Get("X-Forwarded-Proto"); host != fmt.Sprintf("%s:%d", proxyAppHost, port) || proto != "http" {
						t.Errorf("upstream saw Host %q, X-Forwarded-Proto %q", host, proto)
					}
					// Other methods go through with their body and the identity: Gatehouse judges the original
					// method, whatever method the proxy asks it with (WebDAV's PROPFIND included).
					for _, method := range []string{http.MethodPost, http.MethodDelete, "PROPFIND"} {
						req, _ := http.NewRequest(method, appURL+"/api/save", strings.NewReader("x=1"))
						for k, v := range b.hdr {
							req.Header[k] = v
						}
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						resp, err := b.http.Do(req)
						must(t, err)
						var body bytes.Buffer
						_, _ = body.ReadFrom(resp.Body)
						resp.Body.Close()
						var saw struct {
							Method  string
							Headers http.Header
						}
						if resp.StatusCode != 200 || json.Unmarshal(body.Bytes(), &saw) != nil || saw.Method != method ||
							saw.Headers.Get("Remote-User") != "alice" || saw.Headers.Get("Content-Length") != "3" {
							t.Errorf("%s through the proxy: %d %.300s", method, resp.StatusCode, body.String())
						}
					}

					// A WebSocket upgrade reaches the app, with the identity, and carries data both ways.
					if seen, echo := upgradeThrough(t, b, appURL+"/ws"); seen != "alice" || echo != "echo ping\n" {
						t.Errorf("WebSocket upgrade through the proxy: upstream saw Remote-User %q, echoed %q", seen, echo)
					}

					// A group the app does not allow: 403 through the proxy, nothing reaches the upstream.
					denied := b.get(fmt.Sprintf("http://%s:%d/", proxyDeniedHost, port))
					if denied.status != http.StatusForbidden || strings.Contains(denied.body, `"headers"`) {
						t.Fatalf("denied app: %d %.200s", denied.status, denied.body)
					}

					// Sign out at Gatehouse: the next request through the proxy goes to sign in again.
					b.hdr.Del(wecomtest.MemberHeader)
					req, _ := http.NewRequest(http.MethodPost, w.base+"/signout", nil)
					req.Header.Set("Origin", w.base)
					req.Header.Set("Sec-Fetch-Site", "same-origin")
					resp, err := b.http.Do(req)
					must(t, err)
					resp.Body.Close()
					if resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("sign-out: %d", resp.StatusCode)
					}
					after := b.get(target)
					if after.status != http.StatusFound || !strings.HasPrefix(after.location, w.base+"/signin?rd=") {
						t.Fatalf("after sign-out: %d %q %.200s", after.status, after.location, after.body)
					}
				})
			}
		})
	}
}

// upgradeThrough asks for a WebSocket upgrade at u with the browser's cookies and a forged Remote-User,
// and returns the Remote-User the upstream saw and its echo of one line ("" on any failure).
func upgradeThrough(t *testing.T, b *browser, u string) (seen, echo string) {
	t.Helper()
	target, err := url.Parse(u)
	must(t, err)
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", target.Port()), 5*time.Second)
	must(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var cookies []string
	for _, c := range b.http.Jar.Cookies(target) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nRemote-User: root\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", target.RequestURI(), target.Host, strings.Join(cookies, "; "))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Logf("upgrade answered %v %v", err, resp)
		return "", ""
	}
	fmt.Fprintf(conn, "ping\n")
	line, _ := r.ReadString('\n')
	return resp.Header.Get("Seen-Remote-User"), line
}
