package wecomtest

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// The directory page (/directory) plays the corp's admin console: make a member leave, disable them,
// take them out of the app's visible range, or bring them back, and see the events WeCom pushed.

func (s *Sim) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /directory", s.directoryPage)
	mux.HandleFunc("POST /directory", s.directoryChange)
}

type dirMember struct {
	CorpID, UserID, Name, Status string
	Active, Visible              bool
}

type dirData struct {
	Members []dirMember
	Pushes  []dirPush
	Events  bool // some app has an event callback
}

type dirPush struct {
	Event, UserID, URL, Result string
	OK                         bool
}

func (s *Sim) directoryPage(w http.ResponseWriter, r *http.Request) {
	var d dirData
	ev := s.events()
	s.mu.Lock()
	for _, id := range s.corpOrder {
		c := s.corps[id]
		for _, uid := range c.order {
			m := c.members[uid]
			visible := true
			for _, a := range c.Apps {
				visible = visible && m.visibleTo(a.AgentID)
			}
			status := statusText(m.Status, "zh") + " · " + statusText(m.Status, "en")
			if m.Status == 1 {
				status = "已激活 · active"
			}
			d.Members = append(d.Members, dirMember{CorpID: c.ID, UserID: uid, Name: m.Name, Status: status,
				Active: m.Status == 1, Visible: visible})
		}
	}
	s.mu.Unlock()
	ev.mu.Lock()
	d.Events = len(ev.configs) > 0
	for i := len(ev.log) - 1; i >= 0 && len(d.Pushes) < 10; i-- {
		p := ev.log[i]
		res := "…"
		if !p.Done.IsZero() {
			res = "HTTP " + strconv.Itoa(p.Status) + " · " + strconv.Itoa(p.Attempts) + "× · " + p.Done.Sub(p.Queued).Round(time.Millisecond).String()
			if p.Err != "" {
				res += " · " + p.Err
			}
		}
		d.Pushes = append(d.Pushes, dirPush{Event: p.Event, UserID: p.UserID, URL: p.URL, Result: res, OK: p.Delivered()})
	}
	ev.mu.Unlock()
	var buf bytes.Buffer
	if err := directoryTemplate.Execute(&buf, d); err != nil {
		slog.Error("wecomtest: render directory page", "err", err)
		http.Error(w, "wecomtest: cannot render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Write(buf.Bytes())
}

// directoryChange applies the console action, then shows the page again (the pushes go out meanwhile).
func (s *Sim) directoryChange(w http.ResponseWriter, r *http.Request) {
	corp, uid := r.PostFormValue("corp"), r.PostFormValue("userid")
	var err error
	switch r.PostFormValue("action") {
	case "leave":
		err = s.SetMemberStatus(corp, uid, 5)
	case "disable":
		err = s.SetMemberStatus(corp, uid, 2)
	case "back":
		err = s.SetMemberStatus(corp, uid, 1)
	case "hide":
		err = s.SetMemberVisibleTo(corp, uid, []int64{})
	case "show":
		err = s.SetMemberVisibleTo(corp, uid, nil)
	default:
		http.Error(w, "wecomtest: unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.WaitPushes() // the visitor sees the pushes' results (bounded by WeCom's retries)
	// A relative Location, resolved by the browser: the page may be mounted under a prefix (/_wecom in
	// demo mode) that http.Redirect, which resolves against the stripped path, would lose.
	w.Header().Set("Location", "directory")
	w.WriteHeader(http.StatusSeeOther)
}

var directoryTemplate = template.Must(template.New("directory").Parse(`<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>通讯录 · Directory · 企业微信模拟器</title>
<style>
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:#1f2329;font:15px/1.5 -apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei","Segoe UI",sans-serif}
.sheet{max-width:760px;margin:24px auto;background:#fff;border-radius:14px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:20px 20px 24px}
.sim{display:inline-block;margin:0 0 12px;padding:2px 8px;border-radius:10px;background:#fff4e5;color:#a65d00;font-size:12px;font-weight:600}
h1{font-size:20px;margin:4px 0}
h2{font-size:17px;margin:20px 0 6px}
table{width:100%;border-collapse:collapse}
td,th{text-align:left;padding:6px 4px;border-bottom:1px solid #eceef1;vertical-align:top}
.uid,.hint{color:#646a73;font-size:13px}
form{display:inline}
button{font:inherit;font-size:13px;padding:4px 8px;border-radius:6px;border:1px solid #d0d3d6;background:#fff;cursor:pointer;margin:0 4px 4px 0}
button.danger{border-color:#c4332b;color:#c4332b}
.ok{color:#1a7f37}.bad{color:#c4332b}
.warn{background:#fff4e5;color:#a65d00;border-radius:8px;padding:8px 12px}
code{font-size:12px;word-break:break-all}
</style>
</head>
<body>
<main class="sheet" data-sim-page="directory">
<p class="sim">企业微信模拟器 · WeCom simulator</p>
<h1>通讯录 · Directory</h1>
<p class="hint">像管理后台一样操作成员：离职、禁用或移出应用可见范围时，企业微信向应用的“接收消息”URL 推送 unsubscribe 事件，Gatehouse 随即结束该成员的会话。<br>
Act as the admin console: when a member leaves, is disabled or leaves the app's visible range, WeCom pushes an unsubscribe event to the app's 接收消息 URL and Gatehouse ends the member's sessions at once.
In demo mode, sign in as the member in another tab, act here, then reload <a href="/account">/account</a> there.</p>
{{- if not .Events}}<p class="warn">没有应用配置了接收消息 URL · No app has an event callback: nothing is pushed.</p>{{end}}
<table data-testid="sim-members">
<tr><th>成员 Member</th><th>状态 Status</th><th></th></tr>
{{- range .Members}}
<tr data-userid="{{.UserID}}"><td>{{.Name}} <span class="uid">{{.UserID}}</span></td><td>{{.Status}}{{if not .Visible}}<br><span class="uid">不在可见范围 · outside the visible range</span>{{end}}</td>
<td><form method="post" action="directory"><input type="hidden" name="corp" value="{{.CorpID}}"><input type="hidden" name="userid" value="{{.UserID}}">
{{- if .Active}}<button class="danger" name="action" value="leave" data-testid="leave-{{.UserID}}">离职 · Leave</button><button class="danger" name="action" value="disable">禁用 · Disable</button>
{{- else}}<button name="action" value="back" data-testid="back-{{.UserID}}">恢复 · Come back</button>{{end}}
{{- if .Visible}}<button name="action" value="hide">移出可见范围 · Hide from app</button>{{else}}<button name="action" value="show">加入可见范围 · Show to app</button>{{end}}
</form></td></tr>
{{- end}}
</table>
<h2>推送的事件 · Events pushed</h2>
{{- if .Pushes}}
<table data-testid="sim-pushes">
<tr><th>事件 Event</th><th>成员 Member</th><th>结果 Result</th></tr>
{{- range .Pushes}}
<tr><td>{{.Event}}<br><code>{{.URL}}</code></td><td>{{.UserID}}</td><td class="{{if .OK}}ok{{else}}bad{{end}}" data-testid="push-result">{{.Result}}</td></tr>
{{- end}}
</table>
{{- else}}<p class="hint">尚无 · None yet.</p>{{end}}
<p><a href="./">← 模拟器首页 · simulator home</a></p>
</main>
</body>
</html>
`))
