package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
)

// TestBrowserApps: an administrator creates an OIDC app and reads its secret once with the settings
// to paste into Grafana and others, is refused an http redirect URI beside the field, creates a proxy
// app and reads the nginx, Caddy and Traefik configuration, and sees both in the list, in English and
// in Chinese.
func TestBrowserApps(t *testing.T) {
	app := webtest.New(t, "sqlite")
	fxUser(t, app, "root", true)
	for _, g := range []models.Group{{Name: "ops", Title: "Operations"}, {Name: "dev", Title: "Developers"}} {
		if err := app.Store.CreateGroup(context.Background(), &g); err != nil {
			t.Fatal(err)
		}
	}
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en"})
	signInWithPassword(t, tab, "root", fxPassword)

	tab.Navigate(t, "/admin")
	tab.ClickAndWait(t, tid("nav-apps"))
	wantText(t, tab, tid("apps-empty"), "No applications yet")
	tab.ClickAndWait(t, tid("new-oidc"))
	tab.SetValue(t, "#f-title", "Grafana")
	tab.SetValue(t, "#f-name", "grafana")
	tab.SetValue(t, "#f-redirect_uris", "http://grafana.corp.example/login/generic_oauth")
	if status := tab.Submit(t, tid("app-form")); status != http.StatusUnprocessableEntity {
		t.Fatalf("http redirect URI: status %d, want 422", status)
	}
	wantText(t, tab, tid("error-redirect_uris"), "must use https")
	wantValue(t, tab, "#f-title", "Grafana")
	tab.Screenshot(t, "oidc-refused")
	tab.SetValue(t, "#f-redirect_uris", "https://grafana.corp.example/login/generic_oauth")
	tab.Click(t, tid("access-groups"))
	tab.Click(t, tid("group-ops"))
	if status := tab.Submit(t, tid("app-form")); status != http.StatusOK {
		t.Fatalf("create: status %d", status)
	}
	wantText(t, tab, tid("flash"), "Grafana")
	secret := tab.Value(t, tid("client-secret"))
	a, ok := appRow(t, app, "grafana")
	if !ok || secret == "" || a.SecretHash != apps.HashSecret(secret) || a.Access != models.AccessGroups || strings.Join(a.Groups, ",") != "ops" {
		t.Fatalf("created %+v with secret shown %q", a, secret)
	}
	wantValue(t, tab, tid("client-id"), a.ClientID)
	wantValue(t, tab, tid("issuer"), app.URL()+"/oidc")
	if got := tab.Value(t, tid("snippet-text-grafana")); !strings.Contains(got, "client_id = "+a.ClientID) {
		t.Errorf("Grafana snippet: %q", got)
	}
	tab.Screenshot(t, "oidc-secret-once")
	tab.Navigate(t, "/admin/apps/"+itoa(a.ID))
	if n := tab.Count(t, tid("client-secret")); n != 0 {
		t.Error("the secret is shown again after a reload")
	}

	tab.Navigate(t, "/admin/apps")
	tab.ClickAndWait(t, tid("new-proxy"))
	tab.SetValue(t, "#f-title", "Team wiki")
	tab.SetValue(t, "#f-name", "wiki")
	tab.SetValue(t, "#f-domains", "wiki.corp.example\n*.tools.corp.example")
	if status := tab.Submit(t, tid("app-form")); status != http.StatusOK {
		t.Fatalf("create proxy app: status %d", status)
	}
	wiki, _ := appRow(t, app, "wiki")
	for _, s := range apps.ProxySnippets(app.URL(), wiki) {
		if got := tab.Value(t, tid("snippet-text-"+s.ID)); got != s.Text {
			t.Errorf("%s snippet in the browser differs from apps.ProxySnippets:\n%s", s.ID, got)
		}
	}
	tab.Screenshot(t, "proxy-app")

	tab.Navigate(t, "/admin/apps")
	wantText(t, tab, tid("app-grafana"), "Groups: ops")
	wantText(t, tab, tid("app-wiki"), "Forward-auth")
	tab.Screenshot(t, "apps-list")

	zh := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "zh-CN,zh"})
	signInWithPassword(t, zh, "root", fxPassword)
	zh.Navigate(t, "/admin/apps")
	wantText(t, zh, tid("app-wiki"), "转发认证")
	zh.Screenshot(t, "apps-list-zh")
	zh.Navigate(t, "/admin/apps/"+itoa(a.ID))
	browsertest.Eval[bool](t, zh, "window.confirm = () => true, true") // answer the “issue a new secret?” question
	zh.ClickAndWait(t, tid("new-secret"))
	wantText(t, zh, tid("secret-once"), "只显示这一次")
	if s := zh.Value(t, tid("client-secret")); s == "" || s == secret {
		t.Errorf("new secret shown %q", s)
	}
	zh.Screenshot(t, "oidc-new-secret-zh")

	// On a phone the snippets scroll inside their boxes, not the page.
	phone := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Phone})
	signInWithPassword(t, phone, "root", fxPassword)
	phone.Navigate(t, "/admin/apps/"+itoa(wiki.ID))
	phone.WaitVisible(t, tid("snippet-text-nginx"))
	wantNoSidewaysScroll(t, phone)
	wantInsideScreen(t, phone, tid("app-save"))
	phone.Screenshot(t, "proxy-app-phone")
}
