package wecomtest

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"gatehouse/views"
)

// Cookies and headers of the automatic mode (see the package doc).
const (
	MemberHeader = "X-WeCom-Sim-Member"
	ActionHeader = "X-WeCom-Sim-Action"
	MemberCookie = "wecomsim_member"
	ActionCookie = "wecomsim_action"
)

// statePattern is what WeCom allows in state.
var statePattern = regexp.MustCompile(`^[a-zA-Z0-9]{0,128}$`)

// pageRequest is a validated authorize or login page request.
type pageRequest struct {
	kind        string // "authorize" or "login"
	corpID      string
	agentID     int64 // 0 for snsapi_base without agentid
	scope       string
	redirectURI string
	state       string
	lang        string // "zh" or "en"
}

func (s *Sim) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pr := pageRequest{
		kind:        "authorize",
		scope:       q.Get("scope"),
		redirectURI: q.Get("redirect_uri"),
		state:       q.Get("state"),
		lang:        "zh",
	}
	problem := s.checkCorpApp(&pr, q.Get("appid"), q.Get("agentid"), false)
	if problem == "" && q.Get("response_type") != "code" {
		problem = "response_type 必须为 code · response_type must be code"
	}
	if problem == "" {
		switch pr.scope {
		case ScopeBase:
		case ScopePrivateInfo:
			if pr.agentID == 0 { // WeCom treats privateinfo without agentid as base
				pr.scope = ScopeBase
			}
		default:
			problem = "scope 参数错误 · scope must be snsapi_base or snsapi_privateinfo"
		}
	}
	s.servePage(w, r, pr, problem)
}

func (s *Sim) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pr := pageRequest{
		kind:        "login",
		scope:       ScopeWebLogin,
		redirectURI: q.Get("redirect_uri"),
		state:       q.Get("state"),
		lang:        "zh",
	}
	if q.Get("lang") == "en" {
		pr.lang = "en"
	}
	problem := ""
	if q.Get("login_type") != "CorpApp" {
		problem = "login_type 必须为 CorpApp · login_type must be CorpApp"
	}
	if problem == "" {
		problem = s.checkCorpApp(&pr, q.Get("appid"), q.Get("agentid"), true)
	}
	s.servePage(w, r, pr, problem)
}

// checkCorpApp fills pr's corp and agent from the query, or says what is wrong.
func (s *Sim) checkCorpApp(pr *pageRequest, appID, agentID string, agentRequired bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[appID]
	if !ok {
		return "appid 无效 (40013) · invalid appid (corp id)"
	}
	pr.corpID = c.ID
	if agentID == "" {
		if agentRequired {
			return "缺少 agentid (40056) · agentid missing"
		}
		return ""
	}
	id, err := strconv.ParseInt(agentID, 10, 64)
	if err != nil {
		return "agentid 无效 (40056) · invalid agentid"
	}
	if _, ok := c.app(id); !ok {
		return "agentid 无效 (40056) · invalid agentid"
	}
	pr.agentID = id
	return ""
}

func (s *Sim) servePage(w http.ResponseWriter, r *http.Request, pr pageRequest, problem string) {
	if problem == "" {
		if _, err := redirectHost(pr.redirectURI); err != nil {
			problem = "redirect_uri 无效 · redirect_uri must be an absolute http(s) URL"
		} else if !statePattern.MatchString(pr.state) {
			problem = "state 只能包含 a-zA-Z0-9，最长 128 字节 · state: a-zA-Z0-9, at most 128 bytes"
		}
	}
	if problem != "" {
		s.renderMessage(w, http.StatusBadRequest, pr.lang, problem)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if member, refuse, ok := autoChoice(r); ok {
			s.choose(w, r, pr, member, refuse)
			return
		}
		s.renderChoice(w, http.StatusOK, pr, "")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			s.renderMessage(w, http.StatusBadRequest, pr.lang, "表单无效 · malformed form")
			return
		}
		s.choose(w, r, pr, r.PostForm.Get("member"), r.PostForm.Get("action") == "refuse")
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.renderMessage(w, http.StatusMethodNotAllowed, pr.lang, "不支持的请求方法 · method not allowed")
	}
}

// autoChoice reads the automatic mode's header or cookie.
func autoChoice(r *http.Request) (member string, refuse bool, ok bool) {
	member = r.Header.Get(MemberHeader)
	if member == "" {
		if c, err := r.Cookie(MemberCookie); err == nil {
			member = c.Value
		}
	}
	action := r.Header.Get(ActionHeader)
	if action == "" {
		if c, err := r.Cookie(ActionCookie); err == nil {
			action = c.Value
		}
	}
	refuse = strings.EqualFold(action, "refuse")
	return member, refuse, member != "" || refuse
}

// choose acts on the person's choice: redirect with a code, redirect without one (refused), or
// show the page again saying why not.
func (s *Sim) choose(w http.ResponseWriter, r *http.Request, pr pageRequest, member string, refuse bool) {
	if refuse {
		http.Redirect(w, r, callbackURL(pr.redirectURI, "state", pr.state), http.StatusFound)
		return
	}
	if member == "" {
		s.renderChoice(w, http.StatusBadRequest, pr, "请选择成员 · Choose a member first.")
		return
	}
	s.mu.Lock()
	var status int
	var refuses bool
	if m, ok := s.corps[pr.corpID].members[member]; ok {
		status, refuses = m.Status, m.RefuseConsent
	}
	s.mu.Unlock()
	if status > 1 {
		// Unverified: how WeCom shows an inactive member trying to sign in. The simulator stops here.
		s.renderChoice(w, http.StatusForbidden, pr, fmt.Sprintf("%s 的账号%s，无法登录 · %s cannot sign in: %s.",
			member, statusText(status, "zh"), member, statusText(status, "en")))
		return
	}
	if refuses && pr.scope == ScopePrivateInfo {
		http.Redirect(w, r, callbackURL(pr.redirectURI, "state", pr.state), http.StatusFound)
		return
	}
	code, err := s.IssueCode(pr.corpID, pr.agentID, member, pr.scope, pr.redirectURI)
	if err != nil {
		s.renderMessage(w, http.StatusBadRequest, pr.lang, err.Error())
		return
	}
	params := []string{"code", code, "state", pr.state}
	if pr.kind == "login" {
		params = append(params, "appid", pr.corpID)
	}
	http.Redirect(w, r, callbackURL(pr.redirectURI, params...), http.StatusFound)
}

// callbackURL adds query parameters (name, value pairs) to redirectURI, before any #fragment,
// as WeCom does: "https://h/cb?x=1#f" → "https://h/cb?x=1&code=C&state=S#f".
func callbackURL(redirectURI string, params ...string) string {
	base, fragment, hasFragment := strings.Cut(redirectURI, "#")
	var b strings.Builder
	b.WriteString(base)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	for i := 0; i+1 < len(params); i += 2 {
		b.WriteString(sep + url.QueryEscape(params[i]) + "=" + url.QueryEscape(params[i+1]))
		sep = "&"
	}
	if hasFragment {
		b.WriteString("#" + fragment)
	}
	return b.String()
}

// statusText names a member status in Chinese ("zh") or English.
func statusText(status int, lang string) string {
	en := lang == "en"
	switch {
	case status == 2 && en:
		return "disabled"
	case status == 2:
		return "已停用"
	case status == 4 && en:
		return "not activated"
	case status == 4:
		return "未激活"
	case status == 5 && en:
		return "left the organisation"
	case status == 5:
		return "已离职"
	case en:
		return "status " + strconv.Itoa(status)
	default:
		return "状态 " + strconv.Itoa(status)
	}
}

// pageData feeds the page template.
type pageData struct {
	Kind     string // "authorize", "login", "message", "index"
	Lang     string
	Title    string
	CorpName string
	AppName  string
	Private  bool // consent sheet for snsapi_privateinfo
	Members  []memberChoice
	External string
	Warning  string
	Message  string
	QR       template.HTML
	Corps    []indexCorp
}

type memberChoice struct {
	UserID string
	Name   string
	Notes  []string
	Off    bool
}

type indexCorp struct {
	ID, Name string
	Domains  []string
	Apps     []App
	Members  []memberChoice
}

// memberNotes says what makes a member's sign-in special, for the member pickers.
func memberNotes(m *Member, agentID int64) (notes []string, off bool) {
	if m.Status > 1 {
		notes = append(notes, statusText(m.Status, "zh")+" "+statusText(m.Status, "en"))
		off = true
	}
	if agentID != 0 && !m.visibleTo(agentID) {
		notes = append(notes, "不在可见范围 outside the app's visible range")
	}
	if m.RefuseConsent {
		notes = append(notes, "会拒绝授权 refuses consent")
	}
	if m.HideMobile {
		notes = append(notes, "手机号不可读 mobile hidden")
	}
	return notes, off
}

func (s *Sim) renderChoice(w http.ResponseWriter, status int, pr pageRequest, message string) {
	data := pageData{Kind: pr.kind, Lang: pr.lang, External: ExternalUser, Message: message, Private: pr.scope == ScopePrivateInfo}
	s.mu.Lock()
	c := s.corps[pr.corpID]
	data.CorpName = c.Name
	if app, ok := c.app(pr.agentID); ok {
		data.AppName = app.Name
	}
	for _, id := range c.order {
		notes, off := memberNotes(c.members[id], pr.agentID)
		data.Members = append(data.Members, memberChoice{UserID: id, Name: c.members[id].Name, Notes: notes, Off: off})
	}
	host, _ := redirectHost(pr.redirectURI)
	if !c.trustsDomain(host) {
		data.Warning = fmt.Sprintf("回调域名 %s 不是可信域名，换取 code 将返回 50001 · %s is not a trusted domain: exchanging the code will answer 50001.", host, host)
	}
	s.mu.Unlock()
	if data.AppName == "" {
		data.AppName = data.CorpName
	}
	if pr.kind == "login" {
		data.Title = "企业微信登录 · Sign in with WeCom"
		data.QR = qrSVG(fmt.Sprintf("wecomsim://login?appid=%s&agentid=%d&state=%s", pr.corpID, pr.agentID, pr.state))
	} else {
		data.Title = "授权登录 · Authorise"
	}
	s.render(w, status, data)
}

func (s *Sim) renderMessage(w http.ResponseWriter, status int, lang, message string) {
	s.render(w, status, pageData{Kind: "message", Lang: lang, Title: "出错了 · Something is wrong", Message: message})
}

func (s *Sim) indexPage(w http.ResponseWriter, r *http.Request) {
	data := pageData{Kind: "index", Lang: "zh", Title: "企业微信模拟器 · WeCom simulator"}
	s.mu.Lock()
	for _, id := range s.corpOrder {
		c := s.corps[id]
		ic := indexCorp{ID: c.ID, Name: c.Name, Domains: c.TrustedDomains, Apps: c.Apps}
		for _, uid := range c.order {
			notes, off := memberNotes(c.members[uid], 0)
			ic.Members = append(ic.Members, memberChoice{UserID: uid, Name: c.members[uid].Name, Notes: notes, Off: off})
		}
		data.Corps = append(data.Corps, ic)
	}
	s.mu.Unlock()
	s.render(w, http.StatusOK, data)
}

func (s *Sim) render(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := s.pages.Execute(&buf, data); err != nil {
		slog.Error("wecomtest: render page", "kind", data.Kind, "err", err)
		http.Error(w, "wecomtest: cannot render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	// The pages need inline CSS and inline SVG only; the form posts to the page and WeCom then
	// redirects to the app, which may live on any origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// qrSVG draws text as an inline SVG QR code. It is decoration: the simulator's "scan" is a button.
func qrSVG(text string) template.HTML {
	n, path, err := views.QRPath(text)
	if err != nil {
		return ""
	}
	// Only numbers go into the markup, so it is safe to mark as HTML.
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="200" height="200" shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="%d" height="%d" fill="#fff"/><path d="%s" fill="#1f2329"/></svg>`, n, n, n, n, path))
}

func parsePages() *template.Template {
	funcs := template.FuncMap{
		// initial is the first character of a name, for the app icon.
		"initial": func(name string) string {
			for _, r := range name {
				return string(r)
			}
			return "?"
		},
	}
	return template.Must(template.New("page").Funcs(funcs).Parse(pageHTML))
}

const pageHTML = `<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · 企业微信模拟器</title>
<style>
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:#1f2329;font:15px/1.5 -apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei","Segoe UI",sans-serif}
.sheet{max-width:420px;margin:24px auto;background:#fff;border-radius:14px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:20px 20px 24px}
.sim{display:inline-block;margin:0 0 12px;padding:2px 8px;border-radius:10px;background:#fff4e5;color:#a65d00;font-size:12px;font-weight:600}
h1{font-size:20px;margin:4px 0}
.corp{color:#646a73;margin:0 0 12px}
.icon{width:48px;height:48px;border-radius:12px;background:#2b7de9;color:#fff;font-size:24px;display:flex;align-items:center;justify-content:center}
.ask{background:#f5f6f7;border-radius:8px;padding:10px 12px}
fieldset{border:0;padding:0;margin:12px 0}
legend{font-weight:600;margin-bottom:6px}
label.member{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline;padding:8px 4px;border-bottom:1px solid #eceef1;cursor:pointer}
.name{white-space:nowrap}
.uid{color:#646a73;font-size:13px}
.note{font-size:12px;color:#a65d00;background:#fff4e5;border-radius:6px;padding:0 6px}
.off .name{color:#8f959e;text-decoration:line-through}
.actions{display:flex;gap:12px;margin-top:16px}
button{flex:1;font:inherit;padding:10px 12px;border-radius:8px;border:1px solid #d0d3d6;background:#fff;cursor:pointer}
button.primary{background:#2b7de9;border-color:#2b7de9;color:#fff}
.scan button{display:block;width:100%;margin:8px 0;text-align:left}
.qr{display:flex;justify-content:center;margin:8px 0}
.warn{background:#fff4e5;color:#a65d00;border-radius:8px;padding:8px 12px}
.error{background:#fdecec;color:#c4332b;border-radius:8px;padding:8px 12px}
.hint{color:#646a73;font-size:13px}
ul{padding-left:18px}
code{font-size:13px}
</style>
</head>
<body>
<main class="sheet" data-sim-page="{{.Kind}}">
<p class="sim">企业微信模拟器 · WeCom simulator</p>
{{- if eq .Kind "authorize"}}
<div class="icon" aria-hidden="true">{{initial .AppName}}</div>
<h1>{{.AppName}}</h1>
<p class="corp">{{.CorpName}}</p>
{{- if .Warning}}<p class="warn">{{.Warning}}</p>{{end}}
{{- if .Message}}<p class="error" role="alert">{{.Message}}</p>{{end}}
<form method="post">
{{- if .Private}}
<p class="ask">该应用申请获取你的头像、手机号、邮箱等敏感信息。<br><span class="hint">This app asks for your avatar, mobile and email.</span></p>
{{- else}}
<p class="ask">静默授权：应用仅获取你的身份。<br><span class="hint">Silent sign-in: the app learns who you are, nothing more.</span></p>
{{- end}}
<fieldset>
<legend>你是谁？ · Who are you?</legend>
{{- range $i, $m := .Members}}
<label class="member{{if .Off}} off{{end}}"><input type="radio" name="member" value="{{.UserID}}"{{if eq $i 0}} checked{{end}}> <span class="name">{{.Name}}</span> <span class="uid">{{.UserID}}</span>{{range .Notes}} <span class="note">{{.}}</span>{{end}}</label>
{{- end}}
<label class="member"><input type="radio" name="member" value="{{.External}}"> <span class="name">外部微信用户</span> <span class="uid">external WeChat user (not a member)</span></label>
</fieldset>
<div class="actions">
<button type="submit" name="action" value="allow" class="primary">允许 · Allow</button>
<button type="submit" name="action" value="refuse">拒绝 · Refuse</button>
</div>
</form>
{{- else if eq .Kind "login"}}
<h1>{{.Title}}</h1>
<p class="corp">{{.AppName}} · {{.CorpName}}</p>
{{- if .Warning}}<p class="warn">{{.Warning}}</p>{{end}}
{{- if .Message}}<p class="error" role="alert">{{.Message}}</p>{{end}}
<div class="qr">{{.QR}}</div>
<p class="hint">请使用企业微信扫码登录。模拟器中，请选择由谁扫码：<br>Scan with WeCom to sign in. Here, choose who scans:</p>
<form method="post" class="scan">
{{- range .Members}}
<button type="submit" name="member" value="{{.UserID}}">以 {{.Name}} 身份扫码 · scan as {{.UserID}}{{range .Notes}} <span class="note">{{.}}</span>{{end}}</button>
{{- end}}
<button type="submit" name="member" value="{{.External}}">外部微信用户扫码 · scan as an external WeChat user</button>
</form>
{{- else if eq .Kind "index"}}
<h1>{{.Title}}</h1>
<p class="hint">API: <code>cgi-bin/…</code> · pages: <code>connect/oauth2/authorize</code>, <code>wwlogin/sso/login</code></p>
<p><a href="directory" data-testid="sim-directory-link">通讯录：让成员离职或回来 · Directory: make a member leave or come back</a></p>
{{- range .Corps}}
<h2>{{.Name}}</h2>
<p>corp id <code>{{.ID}}</code>; 可信域名 trusted domains: {{range .Domains}}<code>{{.}}</code> {{end}}</p>
<ul>{{range .Apps}}<li>{{.Name}}: AgentId <code>{{.AgentID}}</code>{{if .Legacy}} (legacy){{end}}</li>{{end}}</ul>
<ul>{{range .Members}}<li>{{.Name}} <code>{{.UserID}}</code>{{range .Notes}} <span class="note">{{.}}</span>{{end}}</li>{{end}}</ul>
{{- end}}
{{- else}}
<h1>{{.Title}}</h1>
<p class="error" role="alert">{{.Message}}</p>
{{- end}}
</main>
</body>
</html>
`
