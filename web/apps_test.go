package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

// appForm is a complete, valid form of the given type; set overrides fields ("" deletes one).
func appForm(typ string, set map[string]string) url.Values {
	v := url.Values{"type": {typ}, "name": {"grafana"}, "title": {"Grafana"}, "enabled": {"on"}, "access": {"everyone"}}
	if typ == models.AppTypeOIDC {
		v.Set("redirect_uris", "https://grafana.corp.example/login/generic_oauth\r\nhttp://127.0.0.1:3000/login/generic_oauth\r\n")
		v.Set("post_logout_redirect_uris", "https://grafana.corp.example/login")
	} else {
		v.Set("name", "wiki")
		v.Set("title", "Wiki")
		v.Set("domains", "wiki.corp.example\n*.Tools.corp.example")
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

// appRow reloads an app by name; ok is false when there is none.
func appRow(t *testing.T, app *webtest.App, name string) (models.App, bool) {
	t.Helper()
	a, err := app.Store.AppByName(context.Background(), name)
	if err != nil {
		return a, false
	}
	return a, true
}

// createApp posts the form and returns the created app and the page that follows the redirect.
func createApp(t *testing.T, app *webtest.App, c *webtest.Client, form url.Values) (models.App, *webtest.Response) {
	t.Helper()
	r := c.Post("/admin/apps", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
	}
	a, ok := appRow(t, app, form.Get("name"))
	if !ok {
		t.Fatal("created app not found")
	}
	if want := "/admin/apps/" + strconv.FormatInt(a.ID, 10); r.Location() != want {
		t.Fatalf("create goes to %q, want %q", r.Location(), want)
	}
	return a, c.Get(r.Location())
}

// shownSecret is the secret on an app page, or "".
func shownSecret(r *webtest.Response) string {
	return r.Find("[data-testid=client-secret]").AttrOr("value", "")
}

// assertNoPlainSecret checks that no row of the apps or audit tables, and no log line, holds secret.
func assertNoPlainSecret(t *testing.T, app *webtest.App, secret string) {
	t.Helper()
	if len(secret) < 20 {
		t.Fatalf("checking for a secret of %d characters proves nothing", len(secret))
	}
	for _, model := range []any{&models.App{}, &models.AuditEvent{}} {
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
				if strings.Contains(fmt.Sprint(v), secret) {
					t.Errorf("%s.%s holds the plain client secret", stmt.Schema.Table, col)
				}
			}
		}
	}
	if strings.Contains(app.Logs(), secret) {
		t.Error("the logs hold the client secret")
	}
}

func TestAdminAppsOIDC(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		c := fxSignedIn(t, app, "root")

		a, page := createApp(t, app, c, appForm(models.AppTypeOIDC, nil))
		if a.Type != models.AppTypeOIDC || a.Title != "Grafana" || !a.Enabled || a.Access != models.AccessEveryone || a.Public || len(a.ClientID) < 20 ||
			strings.Join(a.RedirectURIs, " ") != "https://grafana.corp.example/login/generic_oauth http://127.0.0.1:3000/login/generic_oauth" ||
			strings.Join(a.PostLogoutRedirectURIs, " ") != "https://grafana.corp.example/login" {
			t.Errorf("saved %+v", a)
		}
		// The secret is on the page that follows the create, once, and only its hash is stored.
		secret := shownSecret(page)
		if len(secret) < 40 || a.SecretHash != apps.HashSecret(secret) || !apps.CheckSecret(a.SecretHash, secret) {
			t.Fatalf("secret %q shown, hash %q stored", secret, a.SecretHash)
		}
		if got := page.Find("[data-testid=client-id]").AttrOr("value", ""); got != a.ClientID {
			t.Errorf("client id shown %q, want %q", got, a.ClientID)
		}
		issuer := app.URL() + "/oidc"
		if got := page.Find("[data-testid=issuer]").AttrOr("value", ""); got != issuer {
			t.Errorf("issuer %q, want %q", got, issuer)
		}
		if got := page.Find("[data-testid=discovery-url]").AttrOr("value", ""); got != issuer+"/.well-known/openid-configuration" {
			t.Errorf("discovery %q", got)
		}
		for _, id := range []string{"grafana", "gitea", "oauth2-proxy", "outline"} {
			text := page.Find("[data-testid=snippet-text-" + id + "]").Text()
			if !strings.Contains(text, a.ClientID) || strings.Contains(text, secret) {
				t.Errorf("snippet %s: client id shown %v, secret shown %v", id, strings.Contains(text, a.ClientID), strings.Contains(text, secret))
			}
			want := apps.OIDCSnippets(issuer, a)
			for _, s := range want {
				if s.ID == id && s.Text != text {
					t.Errorf("snippet %s on the page differs from apps.OIDCSnippets", id)
				}
			}
		}
		if n := strings.Count(page.Body, secret); n != 1 {
			t.Errorf("the page holds the secret %d times, want once", n)
		}
		again := c.Get("/admin/apps/" + itoa(a.ID))
		if again.StatusCode != http.StatusOK || shownSecret(again) != "" || strings.Contains(again.Body, secret) {
			t.Errorf("the secret is shown again: %d %q", again.StatusCode, shownSecret(again))
		}
		if ev, detail := lastAudit(t, app, apps.ActionCreate); ev.Target != "grafana" || detail["type"] != "oidc" || detail["client_id"] != a.ClientID {
			t.Errorf("audit %s %v", ev.Target, detail)
		}

		// A new secret replaces the old one at once and is shown once.
		r := c.Post("/admin/apps/"+itoa(a.ID)+"/secret", nil)
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/apps/"+itoa(a.ID) {
			t.Fatalf("new secret: %d %q", r.StatusCode, r.Location())
		}
		page = c.Get(r.Location())
		secret2 := shownSecret(page)
		a2, _ := appRow(t, app, "grafana")
		if secret2 == "" || secret2 == secret || a2.SecretHash != apps.HashSecret(secret2) || apps.CheckSecret(a2.SecretHash, secret) {
			t.Errorf("after a new secret: shown %q, old still valid %v", secret2, apps.CheckSecret(a2.SecretHash, secret))
		}
		if fxAudit(t, app, apps.ActionSecret, "grafana") != 1 {
			t.Error("no app.secret audit event")
		}
		if shownSecret(c.Get("/admin/apps/"+itoa(a.ID))) != "" {
			t.Error("the new secret is shown twice")
		}

		// Edit: a new title and redirect URI; a public client loses its secret; back to confidential
		// gets a new one, shown once.
		r = c.Post("/admin/apps/"+itoa(a.ID), appForm(models.AppTypeOIDC, map[string]string{"title": "Grafana Ops", "redirect_uris": "https://grafana.ops.example/login/generic_oauth", "public": "on"}))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
		}
		a3, _ := appRow(t, app, "grafana")
		if a3.Title != "Grafana Ops" || !a3.Public || a3.SecretHash != "" || a3.Type != models.AppTypeOIDC || a3.ClientID != a.ClientID ||
			strings.Join(a3.RedirectURIs, " ") != "https://grafana.ops.example/login/generic_oauth" {
			t.Errorf("after update %+v", a3)
		}
		if page := c.Get(r.Location()); page.Find("[data-testid=client-public]").Length() != 1 || page.Find("[data-testid=new-secret]").Length() != 0 {
			t.Error("a public client's page offers a secret")
		}
		if r := c.Post("/admin/apps/"+itoa(a.ID)+"/secret", nil); r.StatusCode != http.StatusSeeOther {
			t.Errorf("new secret for a public client: %d", r.StatusCode)
		} else if a4, _ := appRow(t, app, "grafana"); a4.SecretHash != "" {
			t.Error("a public client got a secret")
		}
		r = c.Post("/admin/apps/"+itoa(a.ID), appForm(models.AppTypeOIDC, map[string]string{"title": "Grafana Ops"}))
		page = c.Get(r.Location())
		secret3 := shownSecret(page)
		if a5, _ := appRow(t, app, "grafana"); secret3 == "" || a5.Public || a5.SecretHash != apps.HashSecret(secret3) {
			t.Errorf("made confidential again: secret shown %q", secret3)
		}
		for _, s := range []string{secret, secret2, secret3} {
			assertNoPlainSecret(t, app, s)
		}

		// Disable and enable from the list.
		r = c.Post("/admin/apps/"+itoa(a.ID)+"/toggle", nil)
		if a6, _ := appRow(t, app, "grafana"); r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/apps" || a6.Enabled {
			t.Errorf("disable: %d, enabled %v", r.StatusCode, a6.Enabled)
		}
		list := c.Get("/admin/apps")
		if v, _ := list.Find("[data-testid=app-grafana] [data-testid=app-status]").Attr("data-enabled"); v != "false" {
			t.Errorf("list shows enabled=%q", v)
		}
		c.Post("/admin/apps/"+itoa(a.ID)+"/toggle", nil)
		if a7, _ := appRow(t, app, "grafana"); !a7.Enabled {
			t.Error("enable did not enable")
		}

		deleteApp(t, app, c, a)
	})
}

// deleteApp asks, confirms and checks that the app is gone and audited.
func deleteApp(t *testing.T, app *webtest.App, c *webtest.Client, a models.App) {
	t.Helper()
	r := c.Post("/admin/apps/"+itoa(a.ID)+"/delete", nil)
	if r.StatusCode != http.StatusOK || r.Find("[data-testid=delete-confirm]").Length() != 1 {
		t.Fatalf("delete without confirmation: %d, want the confirmation page", r.StatusCode)
	}
	if _, ok := appRow(t, app, a.Name); !ok {
		t.Fatal("deleted without confirmation")
	}
	r = c.Post("/admin/apps/"+itoa(a.ID)+"/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/apps" {
		t.Fatalf("delete: %d %q", r.StatusCode, r.Location())
	}
	if _, ok := appRow(t, app, a.Name); ok {
		t.Error("still there after delete")
	}
	if fxAudit(t, app, apps.ActionDelete, a.Name) != 1 {
		t.Error("no app.delete audit event")
	}
	if r := c.Get("/admin/apps/" + itoa(a.ID)); r.StatusCode != http.StatusNotFound {
		t.Errorf("deleted app page: %d", r.StatusCode)
	}
}

func TestAdminAppsProxy(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		c := fxSignedIn(t, app, "root")
		ctx := context.Background()
		ops := models.Group{Name: "ops", Title: "Operations"}
		if err := app.Store.CreateGroup(ctx, &ops); err != nil {
			t.Fatal(err)
		}

		form := appForm(models.AppTypeProxy, nil)
		form.Set("access", "groups")
		form.Add("groups", "ops")
		a, page := createApp(t, app, c, form)
		if a.Type != models.AppTypeProxy || a.Access != models.AccessGroups || strings.Join(a.Groups, ",") != "ops" ||
			strings.Join(a.Domains, " ") != "wiki.corp.example *.tools.corp.example" || a.SecretHash != "" || a.ClientID == "" {
			t.Errorf("saved %+v", a)
		}
		if shownSecret(page) != "" {
			t.Error("a proxy app page shows a secret")
		}
		if page.Find("[data-testid=group-ops]").AttrOr("checked", "no") == "no" {
			t.Error("the group is not ticked on the page")
		}
		for _, s := range apps.ProxySnippets(app.URL(), a) {
			if got := page.Find("[data-testid=snippet-text-" + s.ID + "]").Text(); got != s.Text {
				t.Errorf("snippet %s on the page differs from apps.ProxySnippets:\n%s", s.ID, got)
			}
		}
		nginx := page.Find("[data-testid=snippet-text-nginx]").Text()
		if !strings.Contains(nginx, "proxy_pass "+app.URL()+"/auth/proxy/nginx;") || !strings.Contains(nginx, "server_name wiki.corp.example *.tools.corp.example;") {
			t.Errorf("nginx snippet:\n%s", nginx)
		}
		list := c.Get("/admin/apps")
		if v, _ := list.Find("[data-testid=app-wiki] [data-testid=app-access]").Attr("data-access"); v != "groups" {
			t.Errorf("list access %q", v)
		}
		if v, _ := list.Find("[data-testid=app-wiki] [data-testid=app-type]").Attr("data-type"); v != "proxy" {
			t.Errorf("list type %q", v)
		}

		// A second app may not take a host the first one covers; the first keeps its own on save.
		r := c.Post("/admin/apps", appForm(models.AppTypeProxy, map[string]string{"name": "builds", "domains": "ci.tools.corp.example"}))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Find("[data-testid=error-domains]").Text(), "wiki") {
			t.Errorf("overlapping domain: %d %q", r.StatusCode, r.Find("[data-testid=error-domains]").Text())
		}
		form.Set("title", "Team wiki")
		if r := c.Post("/admin/apps/"+itoa(a.ID), form); r.StatusCode != http.StatusSeeOther {
			t.Errorf("save with its own domains: %d %s", r.StatusCode, r.Find("[data-testid^=error-]").Text())
		}
		if fxAudit(t, app, apps.ActionUpdate, "wiki") != 1 {
			t.Error("no app.update audit event")
		}
		// Issuing a secret to a proxy app is refused with a message.
		r = c.Post("/admin/apps/"+itoa(a.ID)+"/secret", nil)
		if a2, _ := appRow(t, app, "wiki"); r.StatusCode != http.StatusSeeOther || a2.SecretHash != "" {
			t.Errorf("secret for a proxy app: %d %q", r.StatusCode, a2.SecretHash)
		}
		if f := c.Get(r.Location()).Find("[data-testid=flash]").Text(); !strings.Contains(f, "no client secret") {
			t.Errorf("flash %q", f)
		}
		deleteApp(t, app, c, a)
		// Once deleted, its domains are free.
		createApp(t, app, c, appForm(models.AppTypeProxy, map[string]string{"name": "builds", "domains": "ci.tools.corp.example"}))
	})
}

func TestAdminAppsValidation(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		c := fxSignedIn(t, app, "root")
		if err := app.Store.CreateGroup(context.Background(), &models.Group{Name: "ops"}); err != nil {
			t.Fatal(err)
		}
		createApp(t, app, c, appForm(models.AppTypeOIDC, map[string]string{"name": "taken"}))
		createApp(t, app, c, appForm(models.AppTypeProxy, map[string]string{"name": "other", "domains": "grafana.corp.example\n*.apps.corp.example"}))

		oidc, proxy := models.AppTypeOIDC, models.AppTypeProxy
		for _, tc := range []struct {
			name, typ string
			set       map[string]string
			field     string
			want      string // part of the English error
		}{
			{"name missing", oidc, map[string]string{"name": ""}, "name", "Required"},
			{"name not a slug", oidc, map[string]string{"name": "Grafana App"}, "name", "lower-case"},
			{"name taken", oidc, map[string]string{"name": "taken"}, "name", "Another application"},
			{"title missing", oidc, map[string]string{"title": "  "}, "title", "Required"},
			{"title too long", oidc, map[string]string{"title": strings.Repeat("x", 129)}, "title", "Too long"},
			{"title with a newline", oidc, map[string]string{"title": "a\nb"}, "title", "one line"},
			{"access unknown", oidc, map[string]string{"access": "anyone"}, "access", "who may use"},
			{"groups without a group", oidc, map[string]string{"access": "groups"}, "groups", "at least one group"},
			{"unknown group", oidc, map[string]string{"access": "groups", "groups": "nobody"}, "groups", "“nobody”"},
			{"redirect missing", oidc, map[string]string{"redirect_uris": "\n \n"}, "redirect_uris", "Required"},
			{"redirect relative", oidc, map[string]string{"redirect_uris": "/login/generic_oauth"}, "redirect_uris", "absolute"},
			{"redirect without host", oidc, map[string]string{"redirect_uris": "https:///cb"}, "redirect_uris", "absolute"},
			{"redirect with fragment", oidc, map[string]string{"redirect_uris": "https://a.example/cb#x"}, "redirect_uris", "#fragment"},
			{"redirect with userinfo", oidc, map[string]string{"redirect_uris": "https://u:p@a.example/cb"}, "redirect_uris", "user name"},
			{"redirect plain http", oidc, map[string]string{"redirect_uris": "http://grafana.corp.example/cb"}, "redirect_uris", "https"},
			{"redirect http on a name ending in localhost", oidc, map[string]string{"redirect_uris": "http://localhost.evil.example/cb"}, "redirect_uris", "https"},
			{"redirect other scheme", oidc, map[string]string{"redirect_uris": "javascript://a.example/%0aalert(1)"}, "redirect_uris", "https URL"},
			{"redirect with a space", oidc, map[string]string{"redirect_uris": "https://a.example/c b"}, "redirect_uris", "not a URL"},
			{"post-logout plain http", oidc, map[string]string{"post_logout_redirect_uris": "http://grafana.corp.example/"}, "post_logout_redirect_uris", "https"},
			{"domain missing", proxy, map[string]string{"domains": " "}, "domains", "Required"},
			{"domain with scheme", proxy, map[string]string{"domains": "https://wiki.corp.example"}, "domains", "http://"},
			{"domain with port", proxy, map[string]string{"domains": "wiki.corp.example:8443"}, "domains", "port"},
			{"domain with path", proxy, map[string]string{"domains": "wiki.corp.example/docs"}, "domains", "path"},
			{"domain not a name", proxy, map[string]string{"domains": "wiki_corp.example"}, "domains", "not a host name"},
			{"domain wildcard inside", proxy, map[string]string{"domains": "wiki.*.example"}, "domains", "not a host name"},
			{"domain an IP", proxy, map[string]string{"domains": "10.0.0.7"}, "domains", "IP address"},
			{"domain wildcard over a TLD", proxy, map[string]string{"domains": "*.com"}, "domains", "top-level"},
			{"domain equal to another app's", proxy, map[string]string{"domains": "grafana.corp.example"}, "domains", "other"},
			{"domain under another app's pattern", proxy, map[string]string{"domains": "x.apps.corp.example"}, "domains", "other"},
			{"pattern covering another app's host", proxy, map[string]string{"domains": "*.corp.example"}, "domains", "other"},
			{"pattern inside another app's pattern", proxy, map[string]string{"domains": "*.eu.apps.corp.example"}, "domains", "other"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := appForm(tc.typ, tc.set)
				if tc.set["groups"] != "" {
					form.Set("groups", tc.set["groups"])
				}
				before, _ := app.Store.Apps(context.Background())
				r := c.Post("/admin/apps", form)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", r.StatusCode)
				}
				got := r.Find("[data-testid=error-" + tc.field + "]").Text()
				if !strings.Contains(got, tc.want) {
					t.Errorf("error beside %s: %q, want it to mention %q (all errors: %q)", tc.field, got, tc.want, r.Find("[data-testid^=error-]").Text())
				}
				if after, _ := app.Store.Apps(context.Background()); len(after) != len(before) {
					t.Error("an app was created")
				}
				// The input is kept.
				if v := r.Find("#f-title").AttrOr("value", ""); v != strings.TrimSpace(form.Get("title")) && v != form.Get("title") {
					t.Errorf("title kept as %q", v)
				}
				if tc.typ == proxy && r.Find("#f-domains").Text() != form.Get("domains") {
					t.Errorf("domains kept as %q", r.Find("#f-domains").Text())
				}
				if tc.typ == oidc && r.Find("#f-redirect_uris").Text() != strings.ReplaceAll(form.Get("redirect_uris"), "\r\n", "\n") {
					t.Errorf("redirect URIs kept as %q", r.Find("#f-redirect_uris").Text())
				}
			})
		}
		// Edit refuses the same way, in Chinese too.
		a, _ := appRow(t, app, "taken")
		c.Language = "zh-CN"
		r := c.Post("/admin/apps/"+itoa(a.ID), appForm(models.AppTypeOIDC, map[string]string{"name": "taken", "redirect_uris": "http://grafana.corp.example/cb"}))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Find("[data-testid=error-redirect_uris]").Text(), "必须使用 https") {
			t.Errorf("edit with a bad URI: %d %q", r.StatusCode, r.Find("[data-testid=error-redirect_uris]").Text())
		}
		// An unknown type is refused, and /new only offers the two types.
		if r := c.Post("/admin/apps", appForm("saml", nil)); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("unknown type: %d", r.StatusCode)
		}
		if r := c.Get("/admin/apps/new?type=saml"); r.StatusCode != http.StatusNotFound {
			t.Errorf("new?type=saml: %d", r.StatusCode)
		}
		for _, typ := range []string{"oidc", "proxy"} {
			if r := c.Get("/admin/apps/new?type=" + typ); r.StatusCode != http.StatusOK || r.Find("input[name=type]").AttrOr("value", "") != typ {
				t.Errorf("new?type=%s: %d", typ, r.StatusCode)
			}
		}
		for _, p := range []string{"/admin/apps/999999", "/admin/apps/abc"} {
			if r := c.Get(p); r.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}
	})
}

// TestSecurityAppSecretShownOnce: the one-time display cannot be replayed, moved to another app,
// forged, or read by anyone but an admin; members and visitors cannot reach the apps area at all.
func TestSecurityAppSecretShownOnce(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "mem", false)
		c := fxSignedIn(t, app, "root")
		other, _ := createApp(t, app, c, appForm(models.AppTypeOIDC, map[string]string{"name": "other"}))

		r := c.Post("/admin/apps", appForm(models.AppTypeOIDC, nil))
		cookie := ""
		for _, ck := range r.Cookies() {
			if ck.Name == "gatehouse_app_secret" {
				cookie = ck.Value
				if !ck.HttpOnly || ck.MaxAge <= 0 || ck.MaxAge > 300 || !strings.HasPrefix(ck.Path, "/admin/apps/") {
					t.Errorf("cookie %+v", ck)
				}
			}
		}
		if cookie == "" {
			t.Fatal("no secret cookie after create")
		}
		a, _ := appRow(t, app, "grafana")
		page := c.Get(r.Location())
		secret := shownSecret(page)
		if secret == "" || strings.Contains(cookie, secret) {
			t.Fatal("the secret is not shown, or travels in clear")
		}
		// Replayed onto the other app's page, or onto its own after it was shown: nothing.
		for _, id := range []int64{other.ID, a.ID} {
			req, _ := http.NewRequest(http.MethodGet, app.URL()+"/admin/apps/"+itoa(id), nil)
			req.AddCookie(&http.Cookie{Name: "gatehouse_app_secret", Value: cookie})
			if r := c.Do(req); id == other.ID && shownSecret(r) != "" {
				t.Error("the secret cookie opened on another app's page")
			}
		}
		forged := app.Client()
		forged.SignIn("root", fxPassword)
		forged.SetCookie("gatehouse_app_secret", "AAAA"+cookie[4:])
		if shownSecret(forged.Get("/admin/apps/"+itoa(a.ID))) != "" {
			t.Error("a forged cookie showed a secret")
		}
		// A member gets 403, a visitor the sign-in page, on every apps route.
		mem := fxSignedIn(t, app, "mem")
		anon := app.Client()
		for _, p := range []string{"/admin/apps", "/admin/apps/new?type=oidc", "/admin/apps/" + itoa(a.ID)} {
			if r := mem.Get(p); r.StatusCode != http.StatusForbidden || strings.Contains(r.Body, a.ClientID) {
				t.Errorf("member GET %s: %d", p, r.StatusCode)
			}
			if r := anon.Get(p); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/signin") {
				t.Errorf("anonymous GET %s: %d %q", p, r.StatusCode, r.Location())
			}
		}
		for _, p := range []string{"/admin/apps/" + itoa(a.ID) + "/secret", "/admin/apps/" + itoa(a.ID) + "/toggle", "/admin/apps/" + itoa(a.ID) + "/delete"} {
			if r := mem.Post(p, url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusForbidden {
				t.Errorf("member POST %s: %d", p, r.StatusCode)
			}
		}
		if a2, _ := appRow(t, app, "grafana"); a2.SecretHash != a.SecretHash || !a2.Enabled {
			t.Error("a member's POSTs changed the app")
		}
		assertNoPlainSecret(t, app, secret)
	})
}

// TestAdminAppsProviderOff: without GATEHOUSE_BASE_URL the list and an OIDC app's page say the
// provider is off and why, and show no issuer; the client id is still there.
func TestAdminAppsProviderOff(t *testing.T) {
	noBase := func(c *web.Config, _ *web.Options) { c.BaseURL = nil }
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		c := fxSignedIn(t, app, "root")
		if r := c.Get("/admin/apps"); !strings.Contains(r.Find("[data-testid=provider-off]").Text(), "GATEHOUSE_BASE_URL") {
			t.Error("the list does not say the provider is off")
		}
		a, page := createApp(t, app, c, appForm(models.AppTypeOIDC, nil))
		if !strings.Contains(page.Find("[data-testid=provider-off]").Text(), "GATEHOUSE_BASE_URL") || page.Find("[data-testid=issuer]").Length() != 0 ||
			page.Find("[data-testid=snippets]").Length() != 0 {
			t.Error("the app page does not say the provider is off, or shows an issuer")
		}
		if page.Find("[data-testid=client-id]").AttrOr("value", "") != a.ClientID || shownSecret(page) == "" {
			t.Error("client id or secret missing")
		}
		// Proxy apps work from the request's origin, and say so.
		_, page = createApp(t, app, c, appForm(models.AppTypeProxy, nil))
		if page.Find("[data-testid=origin-guessed]").Length() != 1 || !strings.Contains(page.Find("[data-testid=snippet-text-caddy]").Text(), "forward_auth "+app.URL()) {
			t.Error("proxy page without GATEHOUSE_BASE_URL")
		}
	}, noBase)
}
