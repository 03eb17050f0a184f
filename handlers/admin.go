package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
)

// Dashboard shows counts, recent sign-ins and configuration warnings.
func (h *Handlers) Dashboard(c *gin.Context) {
	stats, err := h.Store.DashboardStats(c.Request.Context(), h.Now().UTC())
	if err != nil {
		h.fail(c, err)
		return
	}
	warnings, err := h.warnings(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.DashboardData{DashboardStats: stats, Warnings: warnings}
	h.render(c, http.StatusOK, views.DashboardPage(h.page(c, "dashboard.title", "dashboard"), d))
}

// warnings lists configuration problems an administrator should fix.
func (h *Handlers) warnings(c *gin.Context) ([]string, error) {
	t := h.T(c)
	list, err := h.Store.Authenticators(c.Request.Context())
	if err != nil {
		return nil, err
	}
	var out []string
	autoLogin := 0
	for _, a := range list {
		if !a.IsWeCom() || !a.Enabled {
			continue
		}
		if a.AutoLogin {
			autoLogin++
		}
		if auth.InsecureOrigin(a.Options.Origin) {
			out = append(out, t.T("warning.origin_not_https", "Title", a.Title))
		}
		if h.breakerOpen(a) {
			out = append(out, t.T("warning.wecom_breaker_open", "Title", a.Title, "Name", a.Name))
		}
	}
	if autoLogin > 1 {
		out = append(out, t.T("warning.auto_login_twice"))
	}
	return out, nil
}

// breakerOpen tells whether sign-ins with the authenticator are failing fast because its WeCom keeps
// failing (its API host and corp's circuit breaker is open).
func (h *Handlers) breakerOpen(a models.Authenticator) bool {
	if h.Breakers == nil {
		return false
	}
	base := a.Options.APIBase
	if base == "" {
		base = h.WeCom.Bases().API
	}
	return h.Breakers.BreakerOpen(base, a.Options.CorpID)
}

// AuthenticatorList lists authenticators in sign-in order.
func (h *Handlers) AuthenticatorList(c *gin.Context) {
	list, err := h.Store.Authenticators(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.AuthenticatorListPage(h.page(c, "authenticators.title", "authenticators"), views.AuthenticatorListData{Authenticators: list}))
}

// AuthenticatorToggle enables or disables an authenticator; the last enabled one stays enabled.
func (h *Handlers) AuthenticatorToggle(c *gin.Context) {
	a, ok := h.loadAuthenticator(c)
	if !ok {
		return
	}
	a.Enabled = !a.Enabled
	ended, err := h.Store.ToggleAuthenticator(c.Request.Context(), &a, currentSession(c).ID, h.Now())
	switch {
	case errors.Is(err, models.ErrLastEnabled):
		h.flash(c, "error", "flash.last_enabled")
	case errors.Is(err, models.ErrAutoLoginTaken):
		h.flash(c, "error", "flash.auto_login_taken")
	case err != nil:
		h.fail(c, err)
		return
	default:
		detail := map[string]any{"enabled": a.Enabled}
		if !a.Enabled {
			detail["sessions_ended"] = ended
		}
		h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: a.Name, Detail: detail})
		if a.Enabled {
			h.flash(c, "ok", "flash.authenticator_enabled", "Title", a.Title)
		} else {
			h.flash(c, "ok", "flash.authenticator_disabled", "Title", a.Title)
		}
	}
	c.Redirect(http.StatusSeeOther, "/admin/authenticators")
}

// AuthenticatorMove moves an authenticator up or down in sign-in order.
func (h *Handlers) AuthenticatorMove(c *gin.Context) {
	a, ok := h.loadAuthenticator(c)
	if !ok {
		return
	}
	delta := 1
	if c.PostForm("direction") == "up" {
		delta = -1
	}
	if err := h.Store.MoveAuthenticator(c.Request.Context(), a.ID, delta); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: a.Name, Detail: map[string]any{"moved": c.PostForm("direction")}})
	c.Redirect(http.StatusSeeOther, "/admin/authenticators")
}

func (h *Handlers) loadAuthenticator(c *gin.Context) (models.Authenticator, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return models.Authenticator{}, false
	}
	a, err := h.Store.AuthenticatorByID(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return a, false
	}
	return a, true
}

const auditPerPage = 50

// Audit lists audit events with filters and paging.
func (h *Handlers) Audit(c *gin.Context) {
	f := models.AuditFilter{Action: strings.TrimSpace(c.Query("action")), Actor: strings.TrimSpace(c.Query("actor")), Target: strings.TrimSpace(c.Query("target"))}
	page := pageNumber(c)
	res, err := h.Store.ListAudit(c.Request.Context(), f, (page-1)*auditPerPage, auditPerPage)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.AuditData{Filter: f, Events: res.Events, Pager: views.Pager{Page: page, PerPage: auditPerPage, Total: res.Total, URL: views.PageURL("/admin/audit", c.Request.URL.Query())}}
	h.render(c, http.StatusOK, views.AuditPage(h.page(c, "audit.title", "audit"), d))
}
