package web_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// rawResponse is what a server answered to a request sent byte for byte.
type rawResponse struct {
	status  int
	outcome string
	body    string
	header  http.Header
}

// rawGet sends "GET target" exactly as given (invalid UTF-8, raw bytes, any length), which
// http.Client would refuse or re-encode, and reads the answer.
func rawGet(t testing.TB, addr, target string, headers ...string) rawResponse {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAccept-Language: en\r\n", target, addr)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("send %.80q: %v", target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %.80q: no HTTP response: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := rawResponse{status: resp.StatusCode, body: string(body), header: resp.Header}
	if i := strings.Index(out.body, `data-outcome="`); i >= 0 {
		rest := out.body[i+len(`data-outcome="`):]
		out.outcome = rest[:strings.IndexByte(rest, '"')]
	}
	return out
}

// escapeRequestTarget keeps a fuzzed query inside the request line: bytes that would end it (space,
// CR, LF, other controls) or start a fragment are percent-encoded, everything else is sent raw.
func escapeRequestTarget(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// malformedWorld is a Gatehouse served through its own Serve (the production limits) with the WeCom
// authenticator "corp" on a simulated corp, and a signed-in admin's session cookie.
func malformedWorld(t testing.TB) (addr, adminCookie string, app *webtest.App) {
	sim, simSrv := wecomtest.NewServer(t)
	app = webtest.New(t, "sqlite", webtest.WithWeCom(simSrv.URL))
	base := serveLoopbackTB(t, app)
	addr = strings.TrimPrefix(base, "http://")
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, TrustedDomains: []string{addr, strings.TrimPrefix(app.URL(), "http://")},
		Apps: []wecomtest.App{{AgentID: agentID, Secret: secret}}}); err != nil {
		t.Fatal(err)
	}
	app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, Origin: base})
	app.CreateUser("root", fxPassword, true, "")
	c := app.Client()
	c.SignIn("root", fxPassword)
	return addr, auth.SessionCookie + "=" + c.Cookie(auth.SessionCookie), app
}

// Oversized and malformed input gets a 4xx (or the normal page), never a 500, a panic or a dropped
// connection.
func TestSecurityMalformedRequests(t *testing.T) {
	t.Parallel()
	addr, admin, _ := malformedWorld(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		target  string
		headers []string
		want    int    // 0: any status below 500
		outcome string // the expected data-outcome, if any
	}{
		{"20 KB redirect on the sign-in page", "/signin?redirect=/" + long(20<<10), nil, http.StatusOK, ""},
		{"100 KB query string", "/signin?redirect=/" + long(100<<10), nil, http.StatusRequestHeaderFieldsTooLarge, ""},
		{"20 KB code and state on the callback", "/auth/wecom/corp/callback?code=" + long(10<<10) + "&state=" + long(10<<10), nil, http.StatusBadRequest, "state_invalid"},
		{"10 KB session cookie on an account page", "/account", []string{"Cookie", auth.SessionCookie + "=" + long(10<<10)}, http.StatusSeeOther, ""},
		{"10 KB session cookie on the sign-in page", "/signin", []string{"Cookie", auth.SessionCookie + "=" + long(10<<10)}, http.StatusOK, ""},
		{"10 KB state cookie on the callback", "/auth/wecom/corp/callback?code=x&state=y", []string{"Cookie", "gatehouse_wecom_state=" + long(10<<10)}, http.StatusBadRequest, "state_invalid"},
		{"10 KB flash and language cookies", "/signin", []string{"Cookie", "gatehouse_flash=" + long(10<<10) + "; gatehouse_lang=" + long(5<<10)}, http.StatusOK, ""},
		{"invalid UTF-8 in the path", "/admin/\xff\xfe", []string{"Cookie", admin}, http.StatusNotFound, ""},
		{"invalid UTF-8 in the authenticator name", "/auth/wecom/\xff\xfe/callback?code=a&state=b", nil, http.StatusNotFound, "authenticator_unavailable"},
		{"invalid UTF-8 in the query, raw", "/signin?redirect=/\xff\xfe", nil, http.StatusOK, ""},
		{"invalid UTF-8 in the query, escaped", "/auth/wecom/corp/callback?code=%ff%fe&state=%c3%28", nil, http.StatusBadRequest, "state_invalid"},
		{"NUL in the redirect", "/signin?redirect=/%00admin", nil, http.StatusOK, ""},
		{"NUL in the authenticator name", "/auth/wecom/corp%00/callback?code=%00&state=%00", nil, http.StatusNotFound, "authenticator_unavailable"},
		{"NUL in an admin path", "/admin/users/1%00", []string{"Cookie", admin}, http.StatusNotFound, ""},
		{"NUL in the start redirect", "/auth/wecom/corp/start?redirect=/%00", nil, http.StatusFound, ""},
		{"bad percent-encoding in the query", "/signin?redirect=%zz%&x=%", nil, http.StatusOK, ""},
		{"bad percent-encoding in the path", "/admin/users/%zz", []string{"Cookie", admin}, 0, ""},
		{"user id beyond int64", "/admin/users/99999999999999999999999", []string{"Cookie", admin}, http.StatusNotFound, ""},
		{"page number beyond int64", "/admin/users?page=99999999999999999999999&q=%00%ff", []string{"Cookie", admin}, http.StatusOK, ""},
		{"audit filters with NUL and invalid UTF-8", "/admin/audit?action=%00%ff&page=-1", []string{"Cookie", admin}, http.StatusOK, ""},
		{"20 KB path", "/" + long(20<<10), nil, http.StatusNotFound, ""},
		{"20 KB authenticator name", "/auth/wecom/" + long(20<<10) + "/start", nil, http.StatusNotFound, "authenticator_unavailable"},
		{"20 KB admin path", "/admin/" + long(20<<10), []string{"Cookie", admin}, http.StatusNotFound, ""},
		{"100 KB path", "/" + long(100<<10), nil, http.StatusRequestHeaderFieldsTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawGet(t, addr, tt.target, tt.headers...)
			if r.status >= 500 || (tt.want != 0 && r.status != tt.want) {
				t.Fatalf("status %d, want %d (below 500)", r.status, tt.want)
			}
			if r.outcome != tt.outcome {
				t.Fatalf("outcome %q, want %q", r.outcome, tt.outcome)
			}
		})
	}
}

// FuzzCallbackQuery sends arbitrary query strings to the WeCom callback of the real router. "STATE"
// in the input becomes the state of a sign-in just started by the same browser, so the fuzzer also
// reaches the code exchange. Every answer must be below 500, except WeCom's own refusal of a made-up
// code, which is the wecom_error outcome (502, DESIGN.md §6).
func FuzzCallbackQuery(f *testing.F) {
	for _, seed := range []string{
		"", "code=abc&state=def", "code=abc&state=STATE", "state=STATE", "code=&state=STATE",
		"code=%00&state=%00", "code=%ff%fe&state=STATE", "code=a&code=b&state=STATE&state=x",
		"%", "%zz", "&&&==", ";code=a;state=STATE", "code=" + strings.Repeat("a", 4096) + "&state=STATE",
		"state=STATE%00", "state=" + strings.Repeat("f", 64), "code=\xff\xfe&state=\x00",
		"appid=ww1&code=CODE&state=STATE&redirect=//evil.example",
	} {
		f.Add(seed)
	}
	addr, _, _ := malformedWorld(f)
	f.Fuzz(func(t *testing.T, query string) {
		var headers []string
		if strings.Contains(query, "STATE") {
			start := rawGet(t, addr, "/auth/wecom/corp/start")
			loc, err := url.Parse(start.header.Get("Location"))
			if err != nil || start.status != http.StatusFound {
				t.Fatalf("start: %d %q", start.status, start.header.Get("Location"))
			}
			query = strings.ReplaceAll(query, "STATE", loc.Query().Get("state"))
			for _, ck := range (&http.Response{Header: start.header}).Cookies() {
				if ck.Name == "gatehouse_wecom_state" {
					headers = []string{"Cookie", ck.Name + "=" + ck.Value}
				}
			}
		}
		r := rawGet(t, addr, "/auth/wecom/corp/callback?"+escapeRequestTarget(query), headers...)
		if r.status >= 500 && !(r.status == http.StatusBadGateway && r.outcome == "wecom_error") {
			t.Fatalf("query %q: status %d, outcome %q", query, r.status, r.outcome)
		}
	})
}
