package web_test

import (
	"net/http"
	"testing"

	"gatehouse/web/webtest"
)

func TestAdminSignInAndDashboard(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("root", "correct-horse", true, "")
		c := app.Client()
		if r := c.Get("/admin"); r.StatusCode != http.StatusSeeOther || r.Location() != "/signin?redirect=%2Fadmin" {
			t.Fatalf("anonymous /admin: %d %q", r.StatusCode, r.Location())
		}
		c.SignIn("root", "correct-horse")
		r := c.Get("/admin")
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=dashboard]").Length() != 1 {
			t.Fatalf("dashboard: %d", r.StatusCode)
		}
	})
}
