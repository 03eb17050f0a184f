package wecomtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func authorizeTarget(kv ...string) string {
	params := map[string]string{
		"appid": DemoCorpID, "redirect_uri": trustedCB, "response_type": "code",
		"scope": ScopePrivateInfo, "state": "abc123", "agentid": strconv.FormatInt(DemoAgentID, 10),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		params[kv[i]] = kv[i+1]
	}
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return "/connect/oauth2/authorize?" + q.Encode()
}

func loginTarget(kv ...string) string {
	params := map[string]string{
		"login_type": "CorpApp", "appid": DemoCorpID, "agentid": strconv.FormatInt(DemoAgentID, 10),
		"redirect_uri": trustedCB, "state": "abc123", "lang": "en",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		params[kv[i]] = kv[i+1]
	}
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return "/wwlogin/sso/login?" + q.Encode()
}

// page sends a browser request: form (for POST) and headers as name, value pairs.
func (e *simEnv) page(method, target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.sim.ServeHTTP(w, r)
	return w
}

// exchange trades the code of a callback Location for getuserinfo's reply.
func (e *simEnv) exchange(location string) map[string]any {
	e.t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		e.t.Fatal(err)
	}
	reply, _ := e.api("", "GET", target("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", u.Query().Get("code")), "")
	return reply
}

func TestPages(t *testing.T) {
	choose := func(member, action string) url.Values { return url.Values{"member": {member}, "action": {action}} }
	tests := []struct {
		name       string
		method     string
		target     string
		form       url.Values
		headers    []string
		wantStatus int
		wantCode   bool   // Location carries a code
		wantUser   string // getuserinfo's userid ("openid" for a non-member)
		wantTicket bool
		wantBody   string // for pages: text the page must show
	}{
		{"authorize page shows the consent sheet", "GET", authorizeTarget(), nil, nil, 200, false, "", false, "WeCom simulator"},
		{"authorize page lists members", "GET", authorizeTarget(), nil, nil, 200, false, "", false, "zhangsan"},
		{"authorize page offers an external user", "GET", authorizeTarget(), nil, nil, 200, false, "", false, ExternalUser},
		{"authorize page warns of an untrusted callback host", "GET", authorizeTarget("redirect_uri", untrustedCB), nil, nil, 200, false, "", false, "50001"},
		{"allow redirects with a code and a ticket", "POST", authorizeTarget(), choose("zhangsan", "allow"), nil, 302, true, "zhangsan", true, ""},
		{"refuse redirects with state only", "POST", authorizeTarget(), choose("zhangsan", "refuse"), nil, 302, false, "", false, ""},
		{"a member who refuses consent gets no code", "POST", authorizeTarget(), choose("sunqi", "allow"), nil, 302, false, "", false, ""},
		{"consent is not asked for snsapi_base", "POST", authorizeTarget("scope", ScopeBase), choose("sunqi", "allow"), nil, 302, true, "sunqi", false, ""},
		{"privateinfo without agentid is base", "POST", authorizeTarget("agentid", ""), choose("zhangsan", "allow"), nil, 302, true, "zhangsan", false, ""},
		{"member outside the visible range signs in without ticket", "POST", authorizeTarget(), choose("wangwu", "allow"), nil, 302, true, "wangwu", false, ""},
		{"disabled member cannot sign in", "POST", authorizeTarget(), choose("zhaoliu", "allow"), nil, 403, false, "", false, "disabled"},
		{"external WeChat user gets an openid", "POST", authorizeTarget(), choose(ExternalUser, "allow"), nil, 302, true, "openid", false, ""},
		{"no member chosen", "POST", authorizeTarget(), choose("", "allow"), nil, 400, false, "", false, "Choose a member"},
		{"auto mode by header", "GET", authorizeTarget(), nil, []string{MemberHeader, "zhangsan"}, 302, true, "zhangsan", true, ""},
		{"auto mode by cookie", "GET", authorizeTarget(), nil, []string{"Cookie", MemberCookie + "=lisi"}, 302, true, "lisi", true, ""},
		{"auto refuse by header", "GET", authorizeTarget(), nil, []string{MemberHeader, "zhangsan", ActionHeader, "refuse"}, 302, false, "", false, ""},
		{"auto refuse by cookie", "GET", authorizeTarget(), nil, []string{"Cookie", MemberCookie + "=zhangsan; " + ActionCookie + "=refuse"}, 302, false, "", false, ""},
		{"auto mode for a disabled member shows why", "GET", authorizeTarget(), nil, []string{MemberHeader, "zhaoliu"}, 403, false, "", false, "disabled"},

		{"login page shows a QR code and scan buttons", "GET", loginTarget(), nil, nil, 200, false, "", false, "<svg"},
		{"login page names who may scan", "GET", loginTarget(), nil, nil, 200, false, "", false, "scan as lisi"},
		{"scan redirects with a userid-only code", "POST", loginTarget(), url.Values{"member": {"lisi"}}, nil, 302, true, "lisi", false, ""},
		{"scan as external user", "POST", loginTarget(), url.Values{"member": {ExternalUser}}, nil, 302, true, "openid", false, ""},
		{"login auto mode", "GET", loginTarget(), nil, []string{MemberHeader, "zhangsan"}, 302, true, "zhangsan", false, ""},
		{"login by a disabled member", "POST", loginTarget(), url.Values{"member": {"zhaoliu"}}, nil, 403, false, "", false, "disabled"},

		{"unknown appid", "GET", authorizeTarget("appid", "wwnope"), nil, nil, 400, false, "", false, "40013"},
		{"wrong response_type", "GET", authorizeTarget("response_type", "token"), nil, nil, 400, false, "", false, "response_type"},
		{"unknown scope", "GET", authorizeTarget("scope", "snsapi_userinfo"), nil, nil, 400, false, "", false, "scope"},
		{"unknown agentid", "GET", authorizeTarget("agentid", "42"), nil, nil, 400, false, "", false, "40056"},
		{"agentid not a number", "GET", authorizeTarget("agentid", "x"), nil, nil, 400, false, "", false, "40056"},
		{"missing redirect_uri", "GET", authorizeTarget("redirect_uri", ""), nil, nil, 400, false, "", false, "redirect_uri"},
		{"relative redirect_uri", "GET", authorizeTarget("redirect_uri", "/cb"), nil, nil, 400, false, "", false, "redirect_uri"},
		{"state with bad characters", "GET", authorizeTarget("state", "a-b"), nil, nil, 400, false, "", false, "state"},
		{"state too long", "GET", authorizeTarget("state", strings.Repeat("a", 129)), nil, nil, 400, false, "", false, "state"},
		{"login without CorpApp", "GET", loginTarget("login_type", "ServiceApp"), nil, nil, 400, false, "", false, "CorpApp"},
		{"login without agentid", "GET", loginTarget("agentid", ""), nil, nil, 400, false, "", false, "40056"},
		{"page with PUT", "PUT", authorizeTarget(), nil, nil, 405, false, "", false, "method"},
		{"index page", "GET", "/", nil, nil, 200, false, "", false, DemoCorpID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSimEnv(t)
			w := e.page(tt.method, tt.target, tt.form, tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantBody != "" && !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("page lacks %q", tt.wantBody)
			}
			if w.Code != http.StatusFound {
				return
			}
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, trustedCB+"?") {
				t.Fatalf("Location %q is not the callback", loc)
			}
			u, _ := url.Parse(loc)
			if got := u.Query().Get("state"); got != "abc123" {
				t.Errorf("state = %q, want abc123", got)
			}
			if has := u.Query().Has("code"); has != tt.wantCode {
				t.Fatalf("Location %q has code: %v, want %v", loc, has, tt.wantCode)
			}
			if !tt.wantCode {
				return
			}
			reply := e.exchange(loc)
			if errcode(reply) != 0 {
				t.Fatalf("exchange: %v", reply)
			}
			if tt.wantUser == "openid" {
				if reply["openid"] == nil || reply["userid"] != nil {
					t.Errorf("exchange = %v, want an openid only", reply)
				}
			} else if reply["userid"] != tt.wantUser {
				t.Errorf("userid = %v, want %s", reply["userid"], tt.wantUser)
			}
			if _, has := reply["user_ticket"]; has != tt.wantTicket {
				t.Errorf("user_ticket present: %v, want %v", has, tt.wantTicket)
			}
		})
	}
}

func TestPagesUseRelativeURLs(t *testing.T) {
	e := newSimEnv(t)
	for _, target := range []string{authorizeTarget(), loginTarget(), "/"} {
		body := e.page("GET", target, nil).Body.String()
		for _, absolute := range []string{`action="/`, `href="/`, `src="/`, `action="http`} {
			if strings.Contains(body, absolute) {
				t.Errorf("%s: page contains %s", target, absolute)
			}
		}
		if strings.Contains(target, "?") && !strings.Contains(body, `<form method="post"`) {
			t.Errorf("%s: page has no self-posting form", target)
		}
	}
}

func TestCallbackURL(t *testing.T) {
	tests := []struct {
		redirect string
		want     string
	}{
		{"https://h/cb", "https://h/cb?code=C&state=S"},
		{"https://h/cb?x=1", "https://h/cb?x=1&code=C&state=S"},
		{"https://h/cb?x=1#frag", "https://h/cb?x=1&code=C&state=S#frag"},
		{"https://h/cb#/spa/route?y=2", "https://h/cb?code=C&state=S#/spa/route?y=2"},
		{"https://h/cb?", "https://h/cb?code=C&state=S"},
		{"https://h:8443/a%20b/cb?x=a%2Fb&", "https://h:8443/a%20b/cb?x=a%2Fb&code=C&state=S"},
	}
	for _, tt := range tests {
		if got := callbackURL(tt.redirect, "code", "C", "state", "S"); got != tt.want {
			t.Errorf("callbackURL(%q) = %q, want %q", tt.redirect, got, tt.want)
		}
	}
}

func TestFragmentSurvivesTheRedirect(t *testing.T) {
	e := newSimEnv(t)
	w := e.page("GET", authorizeTarget("redirect_uri", trustedCB+"?x=1#frag"), nil, MemberHeader, "lisi")
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, trustedCB+"?x=1&code=") || !strings.HasSuffix(loc, "&state=abc123#frag") {
		t.Errorf("Location = %q, want the query before #frag", loc)
	}
}

// TestMountedUnderPrefix serves the simulator at /_wecom on a real server, as the demo does,
// and walks the API and a page's form through the prefix.
func TestMountedUnderPrefix(t *testing.T) {
	sim := New()
	if err := sim.Apply(DemoSeed()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/_wecom/", http.StripPrefix("/_wecom", sim))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := client.Get(srv.URL + "/_wecom/cgi-bin/gettoken?corpid=" + DemoCorpID + "&corpsecret=" + DemoSecret)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("gettoken through the prefix: %s", body)
	}

	pageURL := srv.URL + "/_wecom" + loginTarget()
	resp, err = client.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page through the prefix: HTTP %d", resp.StatusCode)
	}
	// The form has no action, so the browser posts to the page's own URL.
	resp, err = client.PostForm(pageURL, url.Values{"member": {"lisi"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, trustedCB+"?code=") {
		t.Errorf("form post through the prefix: HTTP %d to %q", resp.StatusCode, loc)
	}
}

func TestPageHeaders(t *testing.T) {
	e := newSimEnv(t)
	w := e.page("GET", authorizeTarget(), nil)
	for name, want := range map[string]string{
		"Content-Type":    "text/html; charset=utf-8",
		"Referrer-Policy": "no-referrer",
		"Cache-Control":   "no-store",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}
