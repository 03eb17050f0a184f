package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
	"gatehouse/views"
)

// AppDenied answers a signed-in user whom an application's access rule keeps out (DESIGN.md §10):
// 403, a page with data-outcome="app_denied" naming the app and the account that was refused.
func (h *Handlers) AppDenied(c *gin.Context, app models.App) {
	u, _ := CurrentUser(c)
	title := app.Title
	if title == "" {
		title = app.Name
	}
	p := h.page(c, "proxy.app_denied.title", "")
	origin := ""
	if h.BaseURL != nil && strings.HasPrefix(c.Request.URL.Path, "/auth/proxy/") {
		origin = h.BaseURL.Scheme + "://" + h.BaseURL.Host
		// Caddy and Traefik show this answer on the app's own host: its styles come from Gatehouse's
		// origin, and its forms post there, never to the app.
		p.Asset = func(name string) string { return origin + h.Assets.URL(name) }
		c.Header("Content-Security-Policy", "default-src 'none'; style-src "+origin+"; img-src "+origin+"; script-src "+origin+
			"; form-action "+origin+"; frame-ancestors 'none'; base-uri 'none'")
	}
	c.Header("Cache-Control", "no-store")
	h.render(c, http.StatusForbidden, views.AppDenied(p, views.AppDeniedData{App: title, Username: u.Username, Origin: origin}))
}
