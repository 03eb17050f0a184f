package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
	"gatehouse/views"
)

// AppDenied answers a signed-in user whom an application's access rule keeps out (DESIGN.md §10):
// 403, a page with data-outcome="app_denied" naming the app.
func (h *Handlers) AppDenied(c *gin.Context, app models.App) {
	title := app.Title
	if title == "" {
		title = app.Name
	}
	p := h.page(c, "proxy.app_denied.title", "")
	home := "/"
	if h.BaseURL != nil { // behind Caddy this page shows on the app's own host
		home = h.BaseURL.Scheme + "://" + h.BaseURL.Host + "/"
	}
	c.Header("Cache-Control", "no-store")
	h.render(c, http.StatusForbidden, views.AppDenied(p, views.AppDeniedData{App: title, Home: home}))
}
