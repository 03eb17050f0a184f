package wecomtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// reply is a successful API answer's fields, besides errcode and errmsg.
type reply map[string]any

// apiHandler answers one API endpoint: it counts the call, applies the latency and any
// failure queued by FailNext, then runs h, which returns the reply or a non-zero errcode.
func (s *Sim) apiHandler(endpoint string, h func(*http.Request) (reply, int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[endpoint]++
		latency := s.latency
		injected, down := s.failAll, s.down
		if queue := s.failures[endpoint]; len(queue) > 0 {
			injected, s.failures[endpoint] = queue[0], queue[1:]
		}
		limited, slot := s.admit(endpoint)
		s.mu.Unlock()
		if slot {
			defer s.leave()
		}
		if injected == 0 {
			injected = limited
		}

		if down {
			dropConnection(w)
			return
		}

		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-r.Context().Done():
				t.Stop()
				return // the caller gave up: nobody reads a reply
			case <-t.C:
			}
		}
		if injected != 0 {
			s.writeError(w, r, injected)
			return
		}
		fields, code := h(r)
		if code != 0 {
			s.writeError(w, r, code)
			return
		}
		fields["errcode"] = 0
		fields["errmsg"] = "ok"
		writeJSON(w, fields)
	}
}

// dropConnection closes the request's connection without an answer, as a host that went down would.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2 or a test recorder: abort the stream instead
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}

// writeError answers a business error the way WeCom does: HTTP 200, errcode and errmsg in the
// body and in the Error-Code / Error-Msg headers, errmsg in the live format.
func (s *Sim) writeError(w http.ResponseWriter, r *http.Request, code int) {
	hint := strconv.FormatInt(s.now().Unix(), 10) + strconv.Itoa(100000+rand.IntN(900000))
	msg := fmt.Sprintf("%s, hint: [%s], from ip: %s, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		errText(code), hint, callerIP(r), code)
	w.Header().Set("Error-Code", strconv.Itoa(code))
	w.Header().Set("Error-Msg", msg)
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

// errText is WeCom's errmsg text (before ", hint") for each errcode the simulator can give.
func errText(code int) string {
	switch code {
	case -1:
		return "system busy"
	case 40001:
		return "invalid credential"
	case 40013:
		return "invalid corpid"
	case 40014:
		return "invalid access_token"
	case 40029:
		return "invalid code"
	case 40056:
		return "invalid agentid"
	case 41001:
		return "access_token missing"
	case 41002:
		return "corpid missing"
	case 41004:
		return "corpsecret missing"
	case 41008:
		return "missing code"
	case 41009:
		return "missing userid"
	case 42001:
		return "access_token expired"
	case 45009:
		return "api freq out of limit"
	case 45033:
		return "api concurrent out of limit"
	case 40068:
		return "invalid tagid"
	case 60003:
		return "department not found"
	case 60123:
		return "invalid party id"
	case 40003:
		return "invalid userid"
	case 46004:
		return "user no exist"
	case 47001:
		return "data format error"
	case 48002:
		return "api forbidden"
	case 50001:
		return "redirect_url not authorized"
	case 60011:
		return "no privilege to access/modify contact/party/agent"
	case 60020:
		return "not allow to access from your ip"
	case 60111:
		return "userid not found"
	case 84014:
		return "user ticket expired"
	case 84015:
		return "invalid user ticket"
	case 301002:
		return "access_token and agentid not match"
	default:
		return "error"
	}
}

func callerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Sim) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/cgi-bin/gettoken", s.apiHandler("gettoken", s.getToken))
	mux.Handle("/cgi-bin/auth/getuserinfo", s.apiHandler("getuserinfo", s.getUserInfo(false)))
	mux.Handle("/cgi-bin/user/getuserinfo", s.apiHandler("getuserinfo", s.getUserInfo(true)))
	mux.Handle("/cgi-bin/auth/getuserdetail", s.apiHandler("getuserdetail", s.getUserDetail))
	mux.Handle("/cgi-bin/user/getuserdetail", s.apiHandler("getuserdetail", s.getUserDetail))
	mux.Handle("/cgi-bin/user/get", s.apiHandler("user/get", s.getUser))
	mux.Handle("/cgi-bin/user/getuserid", s.apiHandler("getuserid", s.getUserID))
	mux.Handle("/cgi-bin/user/list_id", s.apiHandler("user/list_id", s.userListID))
	mux.Handle("/cgi-bin/department/simplelist", s.apiHandler("department/simplelist", s.departmentSimpleList))
	mux.Handle("/cgi-bin/department/list", s.apiHandler("department/list", s.departmentFullList))
	mux.Handle("/cgi-bin/department/get", s.apiHandler("department/get", s.departmentGet))
	mux.Handle("/cgi-bin/tag/list", s.apiHandler("tag/list", s.tagList))
	mux.Handle("/cgi-bin/tag/get", s.apiHandler("tag/get", s.tagGet))
	mux.HandleFunc("/connect/oauth2/authorize", s.authorizePage)
	mux.HandleFunc("/wwlogin/sso/login", s.loginPage)
	mux.HandleFunc("/{$}", s.indexPage)
	s.eventRoutes(mux) // the directory console page (events_page.go)
	return mux
}

func (s *Sim) getToken(r *http.Request) (reply, int) {
	q := r.URL.Query()
	corpID, secret := q.Get("corpid"), q.Get("corpsecret")
	s.mu.Lock()
	defer s.mu.Unlock()
	if corpID == "" {
		return nil, 41002
	}
	c, ok := s.corps[corpID]
	if !ok {
		return nil, 40013
	}
	if secret == "" {
		return nil, 41004
	}
	app, ok := c.appBySecret(secret)
	if !ok {
		return nil, 40001
	}
	if !c.trustsIP(callerIP(r)) {
		return nil, 60020
	}
	key := appKey{c.ID, app.AgentID}
	now := s.now()
	if tok, ok := s.current[key]; ok {
		if t, ok := s.tokens[tok]; ok && now.Before(t.expiresAt) {
			left := int64((t.expiresAt.Sub(now) + time.Second - 1) / time.Second)
			return reply{"access_token": tok, "expires_in": left}, 0
		}
	}
	tok := randomString(48)
	s.tokens[tok] = &tokenState{app: key, expiresAt: now.Add(TokenLifetime)}
	s.current[key] = tok
	return reply{"access_token": tok, "expires_in": int64(TokenLifetime / time.Second)}, 0
}

// caller resolves a data call's access_token to its corp and app. s.mu must be held.
func (s *Sim) caller(r *http.Request) (*corpState, App, int) {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return nil, App{}, 41001
	}
	t, ok := s.tokens[tok]
	switch {
	case !ok:
		return nil, App{}, 40014
	case t.dead != 0:
		return nil, App{}, t.dead
	case !s.now().Before(t.expiresAt):
		return nil, App{}, 42001
	}
	c := s.corps[t.app.corpID]
	if !c.trustsIP(callerIP(r)) {
		return nil, App{}, 60020
	}
	app, _ := c.app(t.app.agentID)
	return c, app, 0
}

// decodeBody reads a POST endpoint's JSON body; ok is false for another method or bad JSON,
// which WeCom answers with 47001.
func decodeBody(r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		return false
	}
	return json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v) == nil
}

func (s *Sim) getUserInfo(legacy bool) func(*http.Request) (reply, int) {
	return func(r *http.Request) (reply, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		c, app, errcode := s.caller(r)
		if errcode != 0 {
			return nil, errcode
		}
		code := r.URL.Query().Get("code")
		if code == "" {
			return nil, 41008
		}
		g, ok := s.codes[code]
		if !ok {
			return nil, 40029
		}
		delete(s.codes, code) // single use, whatever the outcome
		switch {
		case !s.now().Before(g.expiresAt), g.app.corpID != c.ID:
			return nil, 40029
		case g.app.agentID != 0 && g.app.agentID != app.AgentID:
			return nil, 301002
		case !c.trustsDomain(g.redirectHost):
			return nil, 50001
		}

		userKey, openKey := "userid", "openid"
		if legacy {
			userKey, openKey = "UserId", "OpenId"
		}
		if !g.member {
			return reply{openKey: openID(c.ID, g.userID), "external_userid": externalUserID(c.ID, g.userID)}, 0
		}
		out := reply{userKey: g.userID}
		if legacy {
			out["DeviceId"] = ""
		}
		m := c.members[g.userID]
		if g.scope == ScopePrivateInfo && g.app.agentID != 0 && m.visibleTo(g.app.agentID) {
			ticket := randomString(48)
			s.tickets[ticket] = &ticketState{app: g.app, userID: g.userID, expiresAt: s.now().Add(TicketLifetime)}
			out["user_ticket"] = ticket
			out["expires_in"] = int64(TicketLifetime / time.Second)
		}
		return out, 0
	}
}

func (s *Sim) getUserDetail(r *http.Request) (reply, int) {
	var body struct {
		UserTicket string `json:"user_ticket"`
	}
	ok := decodeBody(r, &body)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	switch {
	case errcode != 0:
		return nil, errcode
	case !ok:
		return nil, 47001
	}
	t, found := s.tickets[body.UserTicket]
	switch {
	case !found, t.app.corpID != c.ID:
		return nil, 84015
	case !s.now().Before(t.expiresAt):
		return nil, 84014
	case t.app.agentID != app.AgentID:
		return nil, 301002
	}
	m := c.members[t.userID]
	out := reply{"userid": m.UserID, "gender": m.Gender, "avatar": m.Avatar, "qr_code": m.QRCode}
	if !m.HideMobile {
		out["mobile"] = m.Mobile
		out["email"] = m.Email
		out["biz_mail"] = m.BizMail
		out["address"] = m.Address
	}
	return out, 0
}

func (s *Sim) getUser(r *http.Request) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	if errcode != 0 {
		return nil, errcode
	}
	userID := r.URL.Query().Get("userid")
	if userID == "" {
		return nil, 41009
	}
	if !validUserID(userID) {
		return nil, 40003 // 无效的UserID: bad format (wecom-directory.md §1)
	}
	m, ok := c.members[userID]
	switch {
	case !ok:
		return nil, 60111
	case !m.visibleTo(app.AgentID):
		return nil, 60011
	}
	out := reply{
		"userid":     m.UserID,
		"name":       m.Name,
		"department": c.visibleMemberDepts(app, m), // only departments the app may see (§1)
		"position":   m.Position,
		"alias":      m.Alias,
		"status":     m.Status,
	}
	if app.Legacy { // apps created after 2022-06-20 no longer see these
		out["mobile"] = m.Mobile
		out["gender"] = m.Gender
		out["email"] = m.Email
		out["biz_mail"] = m.BizMail
		out["avatar"] = m.Avatar
		out["qr_code"] = m.QRCode
		out["address"] = m.Address
	}
	return out, 0
}

func (s *Sim) getUserID(r *http.Request) (reply, int) {
	var body struct {
		Mobile string `json:"mobile"`
	}
	ok := decodeBody(r, &body)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	switch {
	case errcode != 0:
		return nil, errcode
	case !ok:
		return nil, 47001
	}
	want := normalizeMobile(body.Mobile)
	if want == "" {
		return nil, 46004
	}
	for _, id := range c.order {
		m := c.members[id]
		if normalizeMobile(m.Mobile) == want && m.visibleTo(app.AgentID) {
			return reply{"userid": m.UserID}, 0
		}
	}
	return nil, 46004
}

// validUserID tells whether s has the shape WeCom accepts for a userid: 1–64 letters, digits, '-',
// '_', '.' and '@' (mail-like ids are allowed by the console).
func validUserID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
		default:
			return false
		}
	}
	return true
}
