package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

const newSecret = "typed-secret-5f4dcc3b5aa765d61d8327deb882cf99"

// adminWorld is a WeCom world with a signed-in admin client.
func adminWorld(t *testing.T, dialect string, spec worldSpec) (*wecomWorld, *webtest.Client) {
	t.Helper()
	w := newWorld(t, dialect, spec)
	w.app.CreateUser("root", "correct horse battery", true, "")
	c := w.app.Client()
	c.SignIn("root", "correct horse battery")
	return w, c
}

// wecomFormValues is a complete, valid create form; set overrides fields ("" deletes one).
func wecomFormValues(w *wecomWorld, set map[string]string) url.Values {
	v := url.Values{
		"type": {"wecom"}, "name": {"acme"}, "title": {"Acme WeCom"}, "description": {"Sign in with Acme's WeCom"},
		"enabled": {"on"}, "sort": {"20"}, "auto_signup": {"on"}, "handoff": {"on"}, "corp_id": {corpID}, "agent_id": {strconv.Itoa(agentID)},
		"secret": {newSecret}, "origin": {w.app.URL()}, "redirect_path": {"/account"}, "mobile_redirect_path": {"/m"},
		"api_base": {w.app.Config.WeComAPIBase},
	}
	for k, val := range set {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

// assertSecretNowhere checks the plain secret is in no column of any table row, no page, no log.
func assertSecretNowhere(t *testing.T, app *webtest.App, plain string, pages ...string) {
	t.Helper()
	for _, model := range []any{&models.Authenticator{}, &models.AuditEvent{}, &models.WeComToken{}, &models.User{}, &models.Binding{}, &models.Session{}} {
		stmt := &gorm.Statement{DB: app.Store.DB()}
		if err := stmt.Parse(model); err != nil {
			t.Fatal(err)
		}
		var rows []map[string]any
		if err := app.Store.DB().Table(stmt.Schema.Table).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			for col, v := range r {
				if strings.Contains(fmt.Sprintf("%v", v), plain) {
					t.Errorf("%T column %s holds the plain secret", model, col)
				}
			}
		}
	}
	for _, p := range pages {
		if strings.Contains(p, plain) {
			t.Errorf("a page shows the secret")
		}
	}
	if strings.Contains(app.Logs(), plain) {
		t.Errorf("the logs hold the secret")
	}
}

func TestWeComAdminCreate(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			ctx := context.Background()
			form := wecomFormValues(w, map[string]string{"auto_login": "on", "secret": secret})
			// corp (from the world) has no auto login, so this one may take it.
			r := c.Post("/admin/authenticators", form)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("create: %d %.500s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
			}
			a, err := w.app.Store.AuthenticatorByName(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if r.Location() != "/admin/authenticators/"+strconv.FormatInt(a.ID, 10) {
				t.Errorf("create goes to %q", r.Location())
			}
			o := a.Options
			if a.Type != models.TypeWeCom || a.Title != "Acme WeCom" || a.Description != "Sign in with Acme's WeCom" || !a.Enabled || a.Sort != 20 || !a.AutoLogin ||
				o.CorpID != corpID || o.AgentID != agentID || o.Origin != w.app.URL() || o.RedirectPath != "/account" || o.MobileRedirectPath != "/m" ||
				!o.AutoSignup || o.APIBase != w.app.Config.WeComAPIBase || !o.Handoff {
				t.Errorf("saved %+v", a)
			}
			sealer, _ := models.NewSealer(w.app.Config.SecretKey)
			if plain, err := sealer.Open(a.SecretSealed, models.AuthenticatorSecret(a.Name)); err != nil || plain != secret {
				t.Errorf("sealed secret opens to %q, %v", plain, err)
			}
			page := c.Get(r.Location())
			if page.StatusCode != http.StatusOK || page.Find("input[name=secret]").AttrOr("value", "") != "" {
				t.Errorf("edit page: %d", page.StatusCode)
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthCreate); ev.Target != "acme" || detail["corp_id"] != corpID {
				t.Errorf("audit %s %v", ev.Target, detail)
			}
			// The saved settings work: a test connection with them succeeds.
			test := c.Post(r.Location()+"/test", nil)
			page = c.Get(test.Location())
			if got := page.Find("[data-testid=connection-test]").AttrOr("data-result", ""); got != "ok" {
				t.Errorf("connection test after create: %q", got)
			}
			assertSecretNowhere(t, w.app, secret, page.Body, r.Body)
		})
	}
}

func TestWeComAdminValidation(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		field string
		says  string // part of the message beside the field
	}{
		{"name not a slug", map[string]string{"name": "Acme Corp!"}, "name", "lower-case"},
		{"name missing", map[string]string{"name": ""}, "name", ""},
		{"name taken", map[string]string{"name": "corp"}, "name", "Another authenticator has this name"},
		{"name of the password authenticator", map[string]string{"name": "password"}, "name", "Another authenticator has this name"},
		{"corp_id malformed", map[string]string{"corp_id": "acme"}, "corp_id", "Company ID"},
		{"agent_id not a number", map[string]string{"agent_id": "10x"}, "agent_id", "AgentId"},
		{"agent_id negative", map[string]string{"agent_id": "-5"}, "agent_id", "AgentId"},
		{"secret missing on create", map[string]string{"secret": ""}, "secret", ""},
		{"origin http on a public host", map[string]string{"origin": "http://gate.example.com"}, "origin", "https"},
		{"origin with a path", map[string]string{"origin": "https://gate.example.com/gatehouse"}, "origin", "without a path"},
		{"origin with a query", map[string]string{"origin": "https://gate.example.com?x=1"}, "origin", ""},
		{"origin not a URL", map[string]string{"origin": "gate.example.com"}, "origin", ""},
		{"redirect_path another site", map[string]string{"redirect_path": "//evil.com"}, "redirect_path", "starting with a single /"},
		{"redirect_path absolute URL", map[string]string{"redirect_path": "https://evil.com/"}, "redirect_path", ""},
		{"mobile_redirect_path backslash trick", map[string]string{"mobile_redirect_path": "/\\evil.com"}, "mobile_redirect_path", ""},
		{"api_base not http(s)", map[string]string{"api_base": "ftp://qyapi.example.com"}, "api_base", ""},
		{"api_base with a query", map[string]string{"api_base": "https://qyapi.example.com?corpsecret=x"}, "api_base", ""},
		{"sort not a number", map[string]string{"sort": "first"}, "sort", ""},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before, _ := w.app.Store.Authenticators(context.Background())
					form := wecomFormValues(w, tt.set)
					r := c.Post("/admin/authenticators", form)
					if r.StatusCode != http.StatusUnprocessableEntity {
						t.Fatalf("status %d, want 422", r.StatusCode)
					}
					msg := r.Find("[data-testid=error-" + tt.field + "]").Text()
					if msg == "" || !strings.Contains(msg, tt.says) {
						t.Errorf("error beside %s = %q, want %q", tt.field, msg, tt.says)
					}
					if n := r.Find("[data-testid^=error-]").Length(); n != 1 {
						t.Errorf("%d field errors, want 1", n)
					}
					for _, f := range []string{"name", "title", "corp_id", "agent_id", "origin", "redirect_path", "mobile_redirect_path", "api_base"} {
						if got := r.Find("input[name="+f+"]").AttrOr("value", "?"); got != form.Get(f) {
							t.Errorf("input %s = %q, want the typed %q", f, got, form.Get(f))
						}
					}
					if got := r.Find("input[name=secret]").AttrOr("value", ""); got != "" || strings.Contains(r.Body, newSecret) {
						t.Errorf("the form sends the secret back")
					}
					after, _ := w.app.Store.Authenticators(context.Background())
					if len(after) != len(before) {
						t.Errorf("a refused form created an authenticator")
					}
				})
			}
			assertSecretNowhere(t, w.app, newSecret)
		})
	}
}

// TestWeComAdminAutoLoginOnce: a second auto-login authenticator is refused by the form, naming the
// holder, and by the database's partial unique index.
func TestWeComAdminAutoLoginOnce(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			ctx := context.Background()
			w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "holder", Title: "Head Office", CorpID: corpID, AgentID: agentID, Secret: secret, AutoLogin: true})
			r := c.Post("/admin/authenticators", wecomFormValues(w, map[string]string{"auto_login": "on"}))
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Find("[data-testid=error-auto_login]").Text(), "Head Office") {
				t.Fatalf("second auto login: %d %q", r.StatusCode, r.Find("[data-testid=error-auto_login]").Text())
			}
			// Editing corp to take auto login is refused the same way.
			edit := wecomFormValues(w, map[string]string{"name": "corp", "auto_login": "on", "secret": ""})
			r = c.Post(fmt.Sprintf("/admin/authenticators/%d", w.a.ID), edit)
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Find("[data-testid=error-auto_login]").Text(), "Head Office") {
				t.Errorf("edit to a second auto login: %d", r.StatusCode)
			}
			// The database refuses it too, whatever the form says.
			row := models.Authenticator{Name: "sneaky", Type: models.TypeWeCom, Title: "Sneaky", Enabled: true, AutoLogin: true, Options: models.AuthenticatorOptions{CorpID: corpID, AgentID: agentID}}
			if err := w.app.Store.CreateAuthenticator(ctx, &row); !errors.Is(err, models.ErrAutoLoginTaken) {
				t.Errorf("store insert of a second auto login: %v", err)
			}
			row.ID = 0
			if err := w.app.Store.DB().Create(&row).Error; err == nil {
				t.Errorf("raw insert of a second auto login was accepted")
			}
			// A disabled one may keep the flag.
			row = models.Authenticator{Name: "dormant", Type: models.TypeWeCom, Title: "Dormant", Enabled: false, AutoLogin: true}
			if err := w.app.Store.CreateAuthenticator(ctx, &row); err != nil {
				t.Errorf("disabled authenticator with auto login refused: %v", err)
			}
		})
	}
}

// TestWeComAdminEditSecret: an empty secret keeps the stored one; a typed one replaces it and drops the
// cached token, as does a new corp or agent id.
func TestWeComAdminEditSecret(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			ctx := context.Background()
			alice := w.app.CreateUser("alice", "", false, "")
			w.bind(t, w.a, alice, "alice")
			signIn := func() *webtest.Response {
				return w.signIn(t, w.app.Client(), "alice", "/auth/wecom/corp/start")
			}
			editURL := fmt.Sprintf("/admin/authenticators/%d", w.a.ID)
			edit := func(set map[string]string) {
				t.Helper()
				base := map[string]string{"name": "corp", "title": "WeCom", "auto_signup": "", "api_base": "", "redirect_path": "", "mobile_redirect_path": "/m"}
				for k, v := range set {
					base[k] = v
				}
				if r := c.Post(editURL, wecomFormValues(w, base)); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("save %v: %d %s", set, r.StatusCode, r.Find("[data-testid^=error-]").Text())
				}
			}
			tokens := func() int {
				var n int64
				w.app.Store.DB().Model(&models.WeComToken{}).Where("token_sealed <> ''").Count(&n)
				return int(n)
			}
			if r := signIn(); r.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d %q", r.StatusCode, r.Outcome())
			}
			stored, _ := w.app.Store.AuthenticatorByID(ctx, w.a.ID)

			// Empty secret: the stored one stays, and so does the token.
			edit(map[string]string{"secret": "", "title": "Acme"})
			got, _ := w.app.Store.AuthenticatorByID(ctx, w.a.ID)
			if got.SecretSealed != stored.SecretSealed || got.Title != "Acme" {
				t.Errorf("empty secret changed the stored one")
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthUpdate); ev.Target != "corp" || detail["secret_changed"] != false {
				t.Errorf("audit %v", detail)
			}
			if tokens() != 1 {
				t.Errorf("saving without changes dropped the token")
			}
			signIn()
			if n := w.sim.Calls("gettoken"); n != 1 {
				t.Errorf("gettoken = %d after a save without secret, want 1", n)
			}

			// The secret typed again (WeCom's "view Secret" after a reset): resealed, token dropped,
			// the next sign-in fetches a new token.
			edit(map[string]string{"secret": secret})
			if tokens() != 0 {
				t.Errorf("a new secret kept the cached token")
			}
			if r := signIn(); r.StatusCode != http.StatusOK {
				t.Fatalf("sign-in after the secret was saved again: %d %q", r.StatusCode, r.Outcome())
			}
			if n := w.sim.Calls("gettoken"); n != 2 {
				t.Errorf("gettoken = %d after a new secret, want 2", n)
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthUpdate); detail["secret_changed"] != true || strings.Contains(ev.Detail, secret) {
				t.Errorf("audit %s", ev.Detail)
			}

			// A different secret replaces the stored one.
			edit(map[string]string{"secret": newSecret})
			got, _ = w.app.Store.AuthenticatorByID(ctx, w.a.ID)
			sealer, _ := models.NewSealer(w.app.Config.SecretKey)
			if plain, _ := sealer.Open(got.SecretSealed, models.AuthenticatorSecret(got.Name)); plain != newSecret {
				t.Errorf("secret not replaced")
			}
			if r := signIn(); r.Outcome() != "wecom_error" || !strings.Contains(r.Body, "40001") {
				t.Errorf("sign-in with a wrong secret: %d %q", r.StatusCode, r.Outcome())
			}
			if n := w.sim.Calls("gettoken"); n != 3 {
				t.Errorf("gettoken = %d, want 3", n)
			}
			edit(map[string]string{"secret": secret})
			signIn()

			// A new agent id or corp id drops the token.
			for _, set := range []map[string]string{{"agent_id": "1000003"}, {"agent_id": strconv.Itoa(agentID), "corp_id": "wwfedcba0987654321"}} {
				edit(map[string]string{"corp_id": corpID, "agent_id": strconv.Itoa(agentID), "secret": ""})
				signIn()
				if tokens() != 1 {
					t.Fatalf("no cached token before changing %v", set)
				}
				set["secret"] = ""
				if _, newCorp := set["corp_id"]; newCorp {
					// A new corp needs the secret typed again and the bindings' deletion confirmed
					// (TestSecurityWeComCorpChange).
					set["secret"], set["delete_bindings"] = secret, "on"
				}
				edit(set)
				if tokens() != 0 {
					t.Errorf("changing %v kept the cached token", set)
				}
			}
			assertSecretNowhere(t, w.app, secret)
			assertSecretNowhere(t, w.app, newSecret)
		})
	}
}

// TestWeComAdminPasteBlock: the edit page shows what to paste into WeCom. The desktop workbench link
// is the origin's "/" (which sends admins to /admin and members to /account), the mobile one /m; without
// auto login both go through the start URL.
func TestWeComAdminPasteBlock(t *testing.T) {
	tests := []struct {
		name, origin                  string
		autoLogin                     bool
		callback, domain, home, homeM string
	}{
		{"https on 443, auto login", "https://gate.example.com", true,
			"https://gate.example.com/auth/wecom/x/callback", "gate.example.com", "https://gate.example.com/", "https://gate.example.com/m"},
		{"https with the default port written", "https://gate.example.com:443", false,
			"https://gate.example.com:443/auth/wecom/x/callback", "gate.example.com",
			"https://gate.example.com:443/auth/wecom/x/start?redirect=%2F", "https://gate.example.com:443/auth/wecom/x/start?redirect=%2Fm"},
		{"https on another port", "https://gate.example.com:8443", false,
			"https://gate.example.com:8443/auth/wecom/x/callback", "gate.example.com:8443",
			"https://gate.example.com:8443/auth/wecom/x/start?redirect=%2F", "https://gate.example.com:8443/auth/wecom/x/start?redirect=%2Fm"},
		{"http loopback with a port", "http://127.0.0.1:8080", true,
			"http://127.0.0.1:8080/auth/wecom/x/callback", "127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/m"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					w.app.Store.DB().Where("name = ?", "x").Delete(&models.Authenticator{})
					a := w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "x", CorpID: corpID, AgentID: agentID, Secret: secret, AutoLogin: tt.autoLogin, Origin: tt.origin})
					r := c.Get(fmt.Sprintf("/admin/authenticators/%d", a.ID))
					for id, want := range map[string]string{"paste-callback": tt.callback, "paste-domain": tt.domain, "paste-home-desktop": tt.home, "paste-home-mobile": tt.homeM} {
						if got := r.Find("[data-testid="+id+"]").AttrOr("value", ""); got != want {
							t.Errorf("%s = %q, want %q", id, got, want)
						}
					}
					if r.Find("[data-testid=paste-ip]").Length() != 0 {
						t.Errorf("an outbound IP before any test")
					}
				})
			}
		})
	}
}

// TestWeComAdminConnectionTest: the result block for each case, a fresh gettoken on every test.
func TestWeComAdminConnectionTest(t *testing.T) {
	tests := []struct {
		name    string
		spec    worldSpec
		secret  string
		latency time.Duration
		result  string
		errcode string
		says    []string // in the result block
		ip      string   // in the paste block
	}{
		{name: "ok", secret: secret, result: "ok"},
		{name: "wrong secret: 40001, check Secret", secret: "wrong-secret", result: "error", errcode: "40001", says: []string{"Check the Secret"}, ip: "127.0.0.1"},
		{name: "IP not trusted: 60020 with WeCom's from ip", spec: worldSpec{TrustedIPs: []string{"203.0.113.7"}}, secret: secret, result: "error", errcode: "60020",
			says: []string{"127.0.0.1"}, ip: "127.0.0.1"},
		{name: "WeCom hangs: a result within 6 s", secret: secret, latency: 10 * time.Second, result: "error", errcode: strconv.Itoa(wecom.CodeUnreachable)},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					w, c := adminWorld(t, dialect, tt.spec)
					a := w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "x", CorpID: corpID, AgentID: agentID, Secret: tt.secret})
					if tt.result == "ok" {
						// A cached token exists; the test must not use it.
						w.bind(t, a, w.app.CreateUser("alice", "", false, ""), "alice")
						w.signIn(t, w.app.Client(), "alice", "/auth/wecom/x/start")
					}
					w.sim.SetLatency(tt.latency)
					path := fmt.Sprintf("/admin/authenticators/%d", a.ID)
					for i := 1; i <= 2; i++ {
						calls := w.sim.Calls("gettoken")
						began := time.Now()
						r := c.Post(path+"/test", nil)
						if took := time.Since(began); took > 7*time.Second {
							t.Errorf("test took %v", took)
						}
						if r.StatusCode != http.StatusSeeOther || r.Location() != path {
							t.Fatalf("test: %d %q", r.StatusCode, r.Location())
						}
						if w.sim.Calls("gettoken") != calls+1 {
							t.Errorf("test %d did not call gettoken", i)
						}
						if tt.latency > 0 {
							break // once is enough to wait
						}
					}
					w.sim.SetLatency(0)
					page := c.Get(path)
					block := page.Find("[data-testid=connection-test]")
					if got := block.AttrOr("data-result", ""); got != tt.result {
						t.Fatalf("data-result %q, want %q", got, tt.result)
					}
					if got := block.AttrOr("data-errcode", ""); got != tt.errcode {
						t.Errorf("data-errcode %q, want %q", got, tt.errcode)
					}
					for _, s := range tt.says {
						if !strings.Contains(block.Text(), s) {
							t.Errorf("result does not say %q: %s", s, strings.Join(strings.Fields(block.Text()), " "))
						}
					}
					if got := page.Find("[data-testid=paste-ip]").AttrOr("value", ""); got != tt.ip {
						t.Errorf("paste-ip %q, want %q", got, tt.ip)
					}
					ev, detail := lastAudit(t, w.app, models.ActionAuthTest)
					if ev.Target != "x" || detail["ok"] != (tt.result == "ok") {
						t.Errorf("audit %v", detail)
					}
					assertNoSecrets(t, w.app, page.Body, tt.secret)
				})
			}
		})
	}
}

// TestWeComAdminListAndDelete: enable/disable, order, delete with confirmation and the last enabled
// authenticator, each with its audit event, and the sign-in page that follows.
func TestWeComAdminListAndDelete(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			w, c := adminWorld(t, dialect, worldSpec{})
			ctx := context.Background()
			store := w.app.Store
			second := w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "second", Title: "Second Corp", CorpID: corpID, AgentID: agentID, Secret: secret})
			pw, _ := store.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
			id := func(a models.Authenticator) string { return "/admin/authenticators/" + strconv.FormatInt(a.ID, 10) }
			buttons := func() []string {
				r := w.app.Client().Get("/signin")
				var names []string
				for _, n := range r.Find("[data-testid=wecom-buttons] a").Nodes {
					for _, at := range n.Attr {
						if at.Key == "data-testid" {
							names = append(names, strings.TrimPrefix(at.Val, "wecom-button-"))
						}
					}
				}
				if pf, wb := strings.Index(r.Body, `data-testid="password-form"`), strings.Index(r.Body, `data-testid="wecom-buttons"`); pf >= 0 && wb >= 0 && pf > wb {
					t.Errorf("WeCom buttons above the password form")
				}
				if r.Find("[data-testid=password-form]").Length() == 1 {
					names = append([]string{"password-form"}, names...)
				}
				return names
			}
			if got := strings.Join(buttons(), ","); got != "password-form,corp,second" {
				t.Errorf("sign-in page: %s", got)
			}
			// Move second up: the sign-in page follows the order.
			if r := c.Post(id(second)+"/move", url.Values{"direction": {"up"}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("move: %d", r.StatusCode)
			}
			if got := strings.Join(buttons(), ","); got != "password-form,second,corp" {
				t.Errorf("after move: %s", got)
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthUpdate); ev.Target != "second" || detail["moved"] != "up" {
				t.Errorf("move audit %v", detail)
			}
			// Disable the password authenticator: only the buttons remain.
			if r := c.Post(id(pw)+"/toggle", nil); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("toggle: %d", r.StatusCode)
			}
			if got := strings.Join(buttons(), ","); got != "second,corp" {
				t.Errorf("without password: %s", got)
			}
			// Disable second: its button goes.
			c.Post(id(second)+"/toggle", nil)
			if got := strings.Join(buttons(), ","); got != "corp" {
				t.Errorf("after disabling second: %s", got)
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthUpdate); ev.Target != "second" || detail["enabled"] != false {
				t.Errorf("toggle audit %v", detail)
			}
			// corp is now the last enabled one: neither disabled nor deleted.
			c.Post(id(w.a)+"/toggle", nil)
			if a, _ := store.AuthenticatorByID(ctx, w.a.ID); !a.Enabled {
				t.Errorf("the last enabled authenticator was disabled")
			}
			r := c.Post(id(w.a)+"/delete", url.Values{"confirm": {"yes"}})
			if _, err := store.AuthenticatorByID(ctx, w.a.ID); err != nil || r.StatusCode != http.StatusSeeOther {
				t.Errorf("the last enabled authenticator was deleted: %v", err)
			}
			if flash := c.Get(r.Location()).Find("[data-testid=flash]").Text(); flash == "" {
				t.Errorf("no message after refusing to delete the last enabled authenticator")
			}
			// Delete needs confirm=yes, and takes the bindings with it.
			c.Post(id(pw)+"/toggle", nil)
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice")
			c.Post(id(w.a)+"/delete", nil)
			if _, err := store.AuthenticatorByID(ctx, w.a.ID); err != nil {
				t.Errorf("deleted without confirmation")
			}
			auditsBefore := countRows(t, w.app).audits
			r = c.Post(id(w.a)+"/delete", url.Values{"confirm": {"yes"}})
			if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/authenticators" {
				t.Fatalf("delete: %d %q", r.StatusCode, r.Location())
			}
			if _, err := store.AuthenticatorByID(ctx, w.a.ID); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("still there: %v", err)
			}
			if n, _ := store.CountBindings(ctx, w.a.ID); n != 0 {
				t.Errorf("%d bindings left", n)
			}
			if ev, detail := lastAudit(t, w.app, models.ActionAuthDelete); ev.Target != "corp" || detail["bindings_deleted"] != float64(1) || countRows(t, w.app).audits != auditsBefore+1 {
				t.Errorf("delete audit %v", detail)
			}
			var events []models.AuditEvent
			store.DB().Find(&events)
			for _, e := range events {
				if strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, "secret_sealed") {
					t.Errorf("audit %s holds a secret: %s", e.Action, e.Detail)
				}
			}
		})
	}
}
