package web_test

import (
	"context"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// TestDashboardWarnings: each configuration problem of issue 16 shows its warning, with its fix, on
// /admin, and a healthy setup shows none of them.
func TestDashboardWarnings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	acme := webtest.WeComAuthenticator{Name: "acme", Title: "Acme", CorpID: "ww1", AgentID: 1000002, Secret: "s"}
	tests := []struct {
		name  string
		opts  []webtest.Option
		setup func(t *testing.T, app *webtest.App)
		want  string // "" : none of the warnings below
	}{
		{"healthy", nil, func(t *testing.T, app *webtest.App) { app.CreateWeComAuthenticator(acme) }, ""},
		{"origin not https", nil, func(t *testing.T, app *webtest.App) {
			a := acme
			a.Origin = "http://gate.example.com"
			app.CreateWeComAuthenticator(a)
		}, "uses an http:// origin"},
		{"callback host not the origin's", nil, func(t *testing.T, app *webtest.App) {
			a := acme
			a.Origin = "https://elsewhere.example.com"
			app.CreateWeComAuthenticator(a)
		}, "elsewhere.example.com, but Gatehouse's public address"},
		{"last connection test failed", nil, func(t *testing.T, app *webtest.App) {
			a := app.CreateWeComAuthenticator(acme)
			if err := app.Store.UpdateAuthenticatorStatus(ctx, a.ID, func(o *models.AuthenticatorOptions) {
				o.LastTest = &models.ConnectionTest{OK: false, Code: 40001}
			}); err != nil {
				t.Fatal(err)
			}
		}, "failed with errcode 40001"},
		{"no admin has a password", nil, func(t *testing.T, app *webtest.App) {
			if err := app.Store.DB().Model(&models.User{}).Where("is_admin").Update("password_hash", nil).Error; err != nil {
				t.Fatal(err)
			}
		}, "No enabled administrator has a password"},
		{"password sign-in disabled", nil, func(t *testing.T, app *webtest.App) {
			app.CreateWeComAuthenticator(acme)
			p, err := app.Store.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
			if err != nil {
				t.Fatal(err)
			}
			p.Enabled = false
			if err := app.Store.SaveAuthenticator(ctx, &p); err != nil {
				t.Fatal(err)
			}
		}, "Password sign-in is disabled"},
		{"demo authenticator outside demo mode", nil, func(t *testing.T, app *webtest.App) {
			app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "wecom-demo", Title: "WeCom (demo)", CorpID: wecomtest.DemoCorpID, AgentID: 1000002, Secret: "s"})
		}, "is the demo's authenticator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
				fxUser(t, app, "root", true)
				admin := fxSignedIn(t, app, "root")
				tt.setup(t, app)
				body := admin.Get("/admin").Find("[data-testid=warnings]").Text()
				if tt.want == "" {
					if strings.Contains(body, "Fix:") {
						t.Fatalf("warnings on a healthy setup: %s", body)
					}
					return
				}
				if !strings.Contains(body, tt.want) {
					t.Fatalf("no warning %q in %q", tt.want, body)
				}
			}, tt.opts...)
		})
	}
	t.Run("secret key in the data dir with PostgreSQL", func(t *testing.T) {
		webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
			fxUser(t, app, "root", true)
			body := fxSignedIn(t, app, "root").Get("/admin").Body
			if got, want := strings.Contains(body, "generated into the data directory"), app.Store.Dialect() == "postgres"; got != want {
				t.Fatalf("warning shown %v on %s, want %v", got, app.Store.Dialect(), want)
			}
		}, func(c *web.Config, _ *web.Options) { c.SecretKeyFromFile = true })
	})
}
