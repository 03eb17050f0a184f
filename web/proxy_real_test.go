package web_test

import (
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

// realProxy is a reverse proxy started by a test: its name, binary and the config writer.
type realProxy struct {
	name, binary string
	// config returns the proxy's configuration: listen on port, ask Gatehouse at gatehouse
	// (host:port) before every request, pass allowed requests on to upstream (host:port).
	config func(dir string, port int, gatehouse, upstream string) string
	start  func(t *testing.T, dir, conf string) *exec.Cmd
}

// nginxConfig is the nginx recipe of docs/proxy.md (auth_request, the 401 → 302 redirect and the four
// Remote-* headers copied, replacing whatever the client sent), with test-only paths around it.
func nginxConfig(dir string, port int, gatehouse, upstream string) string {
	return fmt.Sprintf(`error_log %[1]s/error.log info;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
  uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    server_name _;
    location = /_gatehouse {
      internal;
      proxy_pass http://%[3]s/auth/proxy/nginx;
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location @gatehouse_signin {
      return 302 $gatehouse_location;
    }
    location / {
      auth_request /_gatehouse;
      auth_request_set $gatehouse_location $upstream_http_location;
      error_page 401 = @gatehouse_signin;
      auth_request_set $gatehouse_user $upstream_http_remote_user;
      auth_request_set $gatehouse_name $upstream_http_remote_name;
      auth_request_set $gatehouse_email $upstream_http_remote_email;
      auth_request_set $gatehouse_groups $upstream_http_remote_groups;
      proxy_set_header Remote-User $gatehouse_user;
      proxy_set_header Remote-Name $gatehouse_name;
      proxy_set_header Remote-Email $gatehouse_email;
      proxy_set_header Remote-Groups $gatehouse_groups;
      proxy_set_header Host $http_host;
      proxy_pass http://%[4]s;
    }
  }
}
`, dir, port, gatehouse, upstream)
}

// caddyConfig is the Caddy recipe of docs/proxy.md (forward_auth copying the four Remote-* headers,
// after deleting any the client sent, as a second layer: Gatehouse always answers with all four).
func caddyConfig(dir string, port int, gatehouse, upstream string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/data
}
http://:%[2]d {
	bind 127.0.0.1
	route {
		request_header -Remote-User
		request_header -Remote-Name
		request_header -Remote-Email
		request_header -Remote-Groups
		forward_auth %[3]s {
			uri /auth/proxy/forward
			copy_headers Remote-User Remote-Name Remote-Email Remote-Groups
		}
		reverse_proxy %[4]s
	}
}
`, dir, port, gatehouse, upstream)
}

var realProxies = []realProxy{
	{name: "nginx", binary: "nginx", config: nginxConfig, start: func(t *testing.T, dir, conf string) *exec.Cmd {
		return exec.Command("nginx", "-p", dir, "-c", conf, "-g", "daemon off; pid "+dir+"/nginx.pid;")
	}},
	{name: "caddy", binary: "caddy", config: caddyConfig, start: func(t *testing.T, dir, conf string) *exec.Cmd {
		cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
		return cmd
	}},
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

// startProxy writes the config and runs the proxy until the test ends, waiting until it listens.
func startProxy(t *testing.T, p realProxy, gatehouse, upstream string) int {
	t.Helper()
	bin := findProxy(t, p)
	dir := t.TempDir()
	for _, sub := range []string{"logs", "data", "config"} {
		must(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	port := freePort(t)
	conf := filepath.Join(dir, p.name+".conf")
	must(t, os.WriteFile(conf, []byte(p.config(dir, port, gatehouse, upstream)), 0o644))
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
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "method": r.Method, "headers": r.Header})
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
	base string // Gatehouse's public origin
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
	proxyApp(t, app, "demo", true, nil, proxyAppHost)
	proxyApp(t, app, "ops", true, []string{"ops"}, proxyDeniedHost)
	group(t, app, "ops", "user:nobody")
	return &proxyWorld{app: app, sim: sim, base: base}
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

// TestRealProxies runs forward-auth through Debian's nginx and Caddy: anonymous → Gatehouse's
// sign-in page → WeCom sign-in (simulator) → back on the original URL with the identity headers at
// the upstream; a forged Remote-User never reaches the upstream; a denied group gets 403; signing out
// of Gatehouse ends access through the proxy.
func TestRealProxies(t *testing.T) {
	for _, p := range realProxies {
		t.Run(p.name, func(t *testing.T) {
			findProxy(t, p)
			for _, dialect := range modelstest.Dialects() {
				t.Run(dialect, func(t *testing.T) {
					w := newProxyWorld(t, dialect)
					up := echoUpstream(t)
					gate := strings.TrimPrefix(w.app.URL(), "http://")
					port := startProxy(t, p, gate, strings.TrimPrefix(up.URL, "http://"))
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
