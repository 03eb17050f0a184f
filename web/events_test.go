package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

const (
	evToken  = "QDG6eK"
	evAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	evCorp   = "ww5823bf96d3bd56c7"
)

// evWorld is a Gatehouse with a WeCom authenticator "corp" that takes events, and a user "zhang"
// (with a password, so a cut-off does not disable him) bound to the member zhangsan.
type evWorld struct {
	app    *webtest.App
	a      models.Authenticator
	user   models.User
	crypto *directory.CallbackCrypto
}

// setEventSettings stores an authenticator's event Token and EncodingAESKey as the admin form does.
func setEventSettings(t *testing.T, app *webtest.App, a *models.Authenticator, token, key string) {
	t.Helper()
	sealer, err := models.NewSealer(app.Config.SecretKey)
	must(t, err)
	a.EventTokenSealed, err = sealer.Seal(token, models.EventToken(a.Name))
	must(t, err)
	a.EventAESKeySealed, err = sealer.Seal(key, models.EventAESKey(a.Name))
	must(t, err)
	must(t, app.Store.SaveAuthenticator(context.Background(), a))
}

func newEvWorld(t *testing.T, app *webtest.App) *evWorld {
	t.Helper()
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: evCorp, AgentID: 1000002, Secret: "s3cret-s3cret"})
	setEventSettings(t, app, &a, evToken, evAESKey)
	u := fxUser(t, app, "zhang", false)
	must(t, app.Store.CreateBinding(context.Background(), &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: "zhangsan", CorpID: evCorp}))
	c, err := directory.NewCallbackCrypto(evToken, evAESKey, evCorp)
	must(t, err)
	return &evWorld{app: app, a: a, user: u, crypto: c}
}

// eventXML is a decrypted event as WeCom words it.
func eventXML(corp, from string, created time.Time, event string, extra string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>%s<AgentID>1000002</AgentID></xml>",
		corp, from, created.Unix(), event, extra)
}

// post sends msg to the events URL as WeCom would, signed and encrypted with c.
func (w *evWorld) post(t *testing.T, c *directory.CallbackCrypto, path, msg string) *webtest.Response {
	t.Helper()
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "1234567890"
	body, sig, err := c.EncryptPost([]byte(msg), ts, nonce, "1000002")
	must(t, err)
	return w.raw(t, http.MethodPost, path+"?"+url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}.Encode(), string(body))
}

func (w *evWorld) raw(t *testing.T, method, pathQuery, body string) *webtest.Response {
	t.Helper()
	req, err := http.NewRequest(method, w.app.URL()+pathQuery, strings.NewReader(body))
	must(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	return w.app.Client().Do(req)
}

const evPath = "/auth/wecom/corp/events"

// refusals counts the audit rows of refused event calls with a reason.
func refusals(t *testing.T, app *webtest.App, reason string) int64 {
	t.Helper()
	var n int64
	q := app.Store.DB().Model(&models.AuditEvent{}).Where("action = ?", models.ActionEventRefused)
	if reason != "" { // "": any reason (a wrong key fails on padding, length or receiveid at random)
		q = q.Where("outcome = ?", reason)
	}
	must(t, q.Count(&n).Error)
	return n
}

// noSecretsInAudit fails when an event refusal's audit row holds the token, key, signature or data.
func noSecretsInAudit(t *testing.T, app *webtest.App, secrets ...string) {
	t.Helper()
	var rows []models.AuditEvent
	must(t, app.Store.DB().Where("action = ?", models.ActionEventRefused).Find(&rows).Error)
	for _, r := range rows {
		for _, s := range append(secrets, evToken, evAESKey) {
			if s != "" && (strings.Contains(r.Detail, s) || strings.Contains(r.Target, s)) {
				t.Errorf("audit row %s/%s holds a secret: %s", r.Action, r.Outcome, r.Detail)
			}
		}
	}
}

func resetAuditBudget(t *testing.T, app *webtest.App) {
	t.Helper()
	must(t, app.Store.DB().Exec("DELETE FROM audit_budgets").Error)
}

func suspended(t *testing.T, app *webtest.App, userID int64) bool {
	t.Helper()
	ms, err := app.Store.UserDirectoryMembers(context.Background(), userID)
	must(t, err)
	return len(ms) == 1 && ms[0].SuspendedAt != nil
}

// TestEventsURLCheck: WeCom's GET check is answered with exactly the decrypted echostr, as text, fast.
func TestEventsURLCheck(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newEvWorld(t, app)
		echostr, sig, err := w.crypto.SignURLCheck([]byte("5927782489442352469"), "1700000000", "1234567890")
		must(t, err)
		start := time.Now()
		// url.Values encodes + / = as WeCom does (%2B %2F %3D); the handler decodes them.
		r := w.raw(t, http.MethodGet, evPath+"?"+url.Values{"msg_signature": {sig}, "timestamp": {"1700000000"}, "nonce": {"1234567890"}, "echostr": {echostr}}.Encode(), "")
		if took := time.Since(start); took > time.Second && !raceDetector {
			t.Errorf("URL check took %v (WeCom allows 1 s)", took)
		}
		if r.StatusCode != http.StatusOK || r.Body != "5927782489442352469" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("URL check = %d %q (%s)", r.StatusCode, r.Body, r.Header.Get("Content-Type"))
		}
		// The facts file's vector A with the official corp: the receiveid is not ours.
		r = w.raw(t, http.MethodGet, evPath+"?msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D", "")
		if r.StatusCode != http.StatusForbidden || refusals(t, app, "wrong_corp") != 1 {
			t.Fatalf("vector A for another corp = %d, refusals %d", r.StatusCode, refusals(t, app, "wrong_corp"))
		}
	})
}

// TestEventsURLCheckWorkedVector: the facts file's vector A answers its echostr when the authenticator
// is the sample corp's.
func TestEventsURLCheckWorkedVector(t *testing.T) {
	app := webtest.New(t, "sqlite")
	a := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "wx5823bf96d3bd56c7", AgentID: 218, Secret: "s3cret-s3cret"})
	setEventSettings(t, app, &a, evToken, evAESKey)
	w := &evWorld{app: app, a: a}
	r := w.raw(t, http.MethodGet, evPath+"?msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D", "")
	if r.StatusCode != http.StatusOK || r.Body != "1616140317555161061" {
		t.Fatalf("vector A = %d %q", r.StatusCode, r.Body)
	}
}

// TestSecurityEventsUnsubscribeCutsOff: a genuine unsubscribe ends the member's session and suspends the
// binding at once, answered 200 with an empty body; subscribe lets the member back.
func TestSecurityEventsUnsubscribeCutsOff(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newEvWorld(t, app)
		c := fxSignedIn(t, app, "zhang")
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("signed in: /account = %d", r.StatusCode)
		}
		start := time.Now()
		r := w.post(t, w.crypto, evPath, eventXML(evCorp, "zhangsan", time.Now(), "unsubscribe", ""))
		if took := time.Since(start); took > 5*time.Second && !raceDetector {
			t.Errorf("event took %v (WeCom allows 5 s)", took)
		}
		if r.StatusCode != http.StatusOK || r.Body != "" {
			t.Fatalf("unsubscribe = %d %q", r.StatusCode, r.Body)
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("after unsubscribe /account = %d, want the session gone", r.StatusCode)
		}
		if !suspended(t, app, w.user.ID) {
			t.Fatal("binding not suspended")
		}
		if n := fxAudit(t, app, directory.ActionMemberLeft, "zhang"); n != 1 {
			t.Fatalf("member_left audit rows = %d", n)
		}
		r = w.post(t, w.crypto, evPath, eventXML(evCorp, "zhangsan", time.Now().Add(time.Second), "subscribe", ""))
		if r.StatusCode != http.StatusOK || r.Body != "" || suspended(t, app, w.user.ID) {
			t.Fatalf("subscribe = %d %q, suspended %v", r.StatusCode, r.Body, suspended(t, app, w.user.ID))
		}
		if n := fxAudit(t, app, directory.ActionMemberBack, "zhang"); n != 1 {
			t.Fatalf("member_back audit rows = %d", n)
		}
		// A member bound to nobody: nothing to do, still 200.
		if r := w.post(t, w.crypto, evPath, eventXML(evCorp, "nobody", time.Now(), "unsubscribe", "")); r.StatusCode != http.StatusOK {
			t.Fatalf("unbound member = %d", r.StatusCode)
		}
	})
}

// TestEventsChangeContact: delete_user cuts the member off (status left); update_user and update_tag
// refresh the members they name.
func TestEventsChangeContact(t *testing.T) {
	var mu sync.Mutex
	var refreshed []string
	refresh := func(_ context.Context, a models.Authenticator, userid string) error {
		mu.Lock()
		defer mu.Unlock()
		refreshed = append(refreshed, a.Name+":"+userid)
		return nil
	}
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		mu.Lock()
		refreshed = nil
		mu.Unlock()
		w := newEvWorld(t, app)
		c := fxSignedIn(t, app, "zhang")
		now := time.Now()
		msg := func(change, extra string) string {
			return eventXML(evCorp, "sys", now, "change_contact", "<ChangeType><![CDATA["+change+"]]></ChangeType>"+extra)
		}
		if r := w.post(t, w.crypto, evPath, msg("update_user", "<UserID><![CDATA[zhangsan]]></UserID><Department><![CDATA[1,2]]></Department>")); r.StatusCode != http.StatusOK {
			t.Fatalf("update_user = %d", r.StatusCode)
		}
		if r := w.post(t, w.crypto, evPath, msg("update_tag", "<TagId>7</TagId><AddUserItems><![CDATA[lisi,wangwu]]></AddUserItems><DelUserItems>zhaoliu</DelUserItems>")); r.StatusCode != http.StatusOK {
			t.Fatalf("update_tag = %d", r.StatusCode)
		}
		mu.Lock()
		got := strings.Join(refreshed, " ")
		mu.Unlock()
		if got != "corp:zhangsan corp:lisi corp:wangwu corp:zhaoliu" {
			t.Fatalf("refreshed = %q", got)
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("a refresh must not end the session: /account = %d", r.StatusCode)
		}
		if r := w.post(t, w.crypto, evPath, msg("delete_user", "<UserID>zhangsan</UserID>")); r.StatusCode != http.StatusOK || r.Body != "" {
			t.Fatalf("delete_user = %d %q", r.StatusCode, r.Body)
		}
		ms, err := app.Store.UserDirectoryMembers(context.Background(), w.user.ID)
		must(t, err)
		if len(ms) != 1 || ms[0].SuspendedAt == nil || ms[0].Status != models.MemberLeft {
			t.Fatalf("after delete_user: %+v", ms)
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("after delete_user /account = %d", r.StatusCode)
		}
	}, func(_ *web.Config, o *web.Options) { o.EventRefresh = refresh })
}

// TestSecurityEventsRefusals: every forged, malformed, misdirected or oversized call is refused with
// a 4xx, changes nothing and leaves an audit row without secrets; replays and stale events change
// nothing and are answered 200 (so WeCom stops retrying), audited too.
func TestSecurityEventsRefusals(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		w := newEvWorld(t, app)
		c := fxSignedIn(t, app, "zhang")
		other, err := directory.NewCallbackCrypto(evToken, evAESKey, "ww0000000000000000")
		must(t, err)
		forger, err := directory.NewCallbackCrypto("guessed", evAESKey, evCorp)
		must(t, err)
		wrongKey, err := directory.NewCallbackCrypto(evToken, "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", evCorp)
		must(t, err)
		unsub := eventXML(evCorp, "zhangsan", time.Now(), "unsubscribe", "")
		good, goodSig, err := w.crypto.EncryptPost([]byte(unsub), "1", "2", "1000002")
		must(t, err)
		q := "?" + url.Values{"msg_signature": {goodSig}, "timestamp": {"1"}, "nonce": {"2"}}.Encode()

		// A second authenticator without event settings, and a disabled one with them.
		plain := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "plain", CorpID: evCorp, AgentID: 5, Secret: "s3cret-s3cret"})
		off := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "off", CorpID: evCorp, AgentID: 6, Secret: "s3cret-s3cret"})
		setEventSettings(t, app, &off, evToken, evAESKey)
		off.Enabled = false
		must(t, app.Store.SaveAuthenticator(context.Background(), &off))
		_ = plain

		for _, tc := range []struct {
			name, reason string
			status       int
			do           func() *webtest.Response
		}{
			{"bad signature", "bad_signature", 403, func() *webtest.Response { return w.post(t, forger, evPath, unsub) }},
			{"wrong key", "", 400, func() *webtest.Response { return w.post(t, wrongKey, evPath, unsub) }},
			{"wrong corp", "wrong_corp", 403, func() *webtest.Response { return w.post(t, other, evPath, unsub) }},
			{"malformed XML", "malformed_xml", 400, func() *webtest.Response { return w.raw(t, "POST", evPath+q, "<xml><Encrypt>"+string(good)) }},
			{"no parameters", "missing_params", 400, func() *webtest.Response { return w.raw(t, "POST", evPath, string(good)) }},
			{"bad signature GET", "bad_signature", 403, func() *webtest.Response {
				return w.raw(t, "GET", evPath+"?msg_signature=00&timestamp=1&nonce=2&echostr=abcd", "")
			}},
			{"malformed event", "malformed_xml", 400, func() *webtest.Response { return w.post(t, w.crypto, evPath, "<xml><CreateTime>x") }},
			{"oversized", "too_large", 413, func() *webtest.Response {
				return w.raw(t, "POST", evPath+q, "<xml><Encrypt>"+strings.Repeat("A", handlersEventMaxBody())+"</Encrypt></xml>")
			}},
			{"unknown authenticator", "unknown_authenticator", 404, func() *webtest.Response { return w.post(t, w.crypto, "/auth/wecom/nope/events", unsub) }},
			{"disabled authenticator", "unknown_authenticator", 404, func() *webtest.Response { return w.post(t, w.crypto, "/auth/wecom/off/events", unsub) }},
			{"no settings", "no_settings", 404, func() *webtest.Response { return w.post(t, w.crypto, "/auth/wecom/plain/events", unsub) }},
			{"password authenticator", "unknown_authenticator", 404, func() *webtest.Response { return w.post(t, w.crypto, "/auth/wecom/password/events", unsub) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resetAuditBudget(t, app) // this test refuses more than the anonymous cap allows per minute
				before := refusals(t, app, tc.reason)
				r := tc.do()
				if r.StatusCode != tc.status {
					t.Fatalf("status %d, want %d (%s)", r.StatusCode, tc.status, r.Body)
				}
				if n := refusals(t, app, tc.reason); n != before+1 {
					t.Fatalf("audit rows with reason %s: %d → %d", tc.reason, before, n)
				}
				if suspended(t, app, w.user.ID) {
					t.Fatal("a refused event suspended the binding")
				}
			})
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("after the refusals the session must live: %d", r.StatusCode)
		}

		resetAuditBudget(t, app)
		// Stale (older than 10 minutes) and far-future events change nothing, answered 200.
		for _, at := range []time.Time{time.Now().Add(-11 * time.Minute), time.Now().Add(time.Hour)} {
			if r := w.post(t, w.crypto, evPath, eventXML(evCorp, "zhangsan", at, "unsubscribe", "")); r.StatusCode != http.StatusOK || r.Body != "" {
				t.Fatalf("stale = %d %q", r.StatusCode, r.Body)
			}
		}
		if refusals(t, app, directory.OutcomeStale) != 2 || suspended(t, app, w.user.ID) {
			t.Fatalf("stale: refusals %d, suspended %v", refusals(t, app, directory.OutcomeStale), suspended(t, app, w.user.ID))
		}
		// Replay: the same event (member, event, CreateTime) applies once; after subscribe, the replayed
		// unsubscribe does not cut the member off again.
		ev := eventXML(evCorp, "zhangsan", time.Now(), "unsubscribe", "")
		if r := w.post(t, w.crypto, evPath, ev); r.StatusCode != http.StatusOK || !suspended(t, app, w.user.ID) {
			t.Fatalf("first unsubscribe = %d", r.StatusCode)
		}
		if r := w.post(t, w.crypto, evPath, eventXML(evCorp, "zhangsan", time.Now().Add(time.Second), "subscribe", "")); r.StatusCode != http.StatusOK || suspended(t, app, w.user.ID) {
			t.Fatalf("subscribe = %d", r.StatusCode)
		}
		c = fxSignedIn(t, app, "zhang")
		if r := w.post(t, w.crypto, evPath, ev); r.StatusCode != http.StatusOK || r.Body != "" {
			t.Fatalf("replay = %d %q", r.StatusCode, r.Body)
		}
		if suspended(t, app, w.user.ID) || refusals(t, app, directory.OutcomeDuplicate) != 1 {
			t.Fatalf("replay: suspended %v, duplicate rows %d", suspended(t, app, w.user.ID), refusals(t, app, directory.OutcomeDuplicate))
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("a replay ended the session: %d", r.StatusCode)
		}
		noSecretsInAudit(t, app, goodSig, string(good)[40:80])
		if strings.Contains(app.Logs(), evAESKey) || strings.Contains(app.Logs(), goodSig) {
			t.Error("the log holds the key or a signature")
		}
	})
}

// TestSecurityEventsAuditCapped: refusals of the events endpoint are anonymous, so their audit rows
// fall under the per-address cap like sign-in refusals: a flood writes one summary row.
func TestSecurityEventsAuditCapped(t *testing.T) {
	app := webtest.New(t, "sqlite")
	w := newEvWorld(t, app)
	for range models.AnonymousAuditPerMinute + 5 {
		if r := w.raw(t, "GET", evPath+"?msg_signature=00&timestamp=1&nonce=2&echostr=abcd", ""); r.StatusCode != http.StatusForbidden {
			t.Fatalf("forged URL check = %d", r.StatusCode)
		}
	}
	if n := refusals(t, app, "bad_signature"); n != models.AnonymousAuditPerMinute {
		t.Fatalf("refusal rows = %d, want the cap %d", n, models.AnonymousAuditPerMinute)
	}
	if n := fxAudit(t, app, models.ActionSigninSuppressed, ""); n != 1 {
		t.Fatalf("summary rows = %d", n)
	}
}

// TestSecurityEventsCrossOriginExempt: WeCom's event POST is authenticated by its signature, so the
// cross-origin check does not stand in its way, whatever Origin or Sec-Fetch-Site a proxy adds; a
// forged one is still refused by its signature.
func TestSecurityEventsCrossOriginExempt(t *testing.T) {
	app := webtest.New(t, "sqlite")
	w := newEvWorld(t, app)
	send := func(c *directory.CallbackCrypto) *webtest.Response {
		ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "42"
		body, sig, err := c.EncryptPost([]byte(eventXML(evCorp, "zhangsan", time.Now(), "unsubscribe", "")), ts, nonce, "1000002")
		must(t, err)
		req, err := http.NewRequest(http.MethodPost, app.URL()+evPath+"?"+url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}.Encode(), strings.NewReader(string(body)))
		must(t, err)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		return app.Client().Do(req)
	}
	forger, err := directory.NewCallbackCrypto("guessed", evAESKey, evCorp)
	must(t, err)
	if r := send(forger); r.StatusCode != http.StatusForbidden || refusals(t, app, "bad_signature") != 1 {
		t.Fatalf("forged cross-site event = %d", r.StatusCode)
	}
	if r := send(w.crypto); r.StatusCode != http.StatusOK || !suspended(t, app, w.user.ID) {
		t.Fatalf("genuine event with a foreign Origin = %d", r.StatusCode)
	}
}
