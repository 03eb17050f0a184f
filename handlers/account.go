package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/views"
)

// Account shows members their profile, WeCom bindings and sessions; /m is the same for phones.
func (h *Handlers) Account(c *gin.Context) {
	u, _ := CurrentUser(c)
	ctx := c.Request.Context()
	bindings, err := h.Store.UserBindings(ctx, u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	sessions, err := h.Store.UserSessions(ctx, u.ID, h.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.AccountData{User: u, Bindings: bindings, Sessions: sessions, CurrentSession: currentSession(c).ID, Mobile: c.FullPath() == "/m"}
	h.render(c, http.StatusOK, views.AccountPage(h.page(c, "account.title", ""), d))
}

// RevokeOtherSessions signs the member out of every other browser.
func (h *Handlers) RevokeOtherSessions(c *gin.Context) {
	u, _ := CurrentUser(c)
	n, err := h.Sessions.RevokeOthers(c.Request.Context(), u.ID, currentSession(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, h.revokeEvent(u.Username, n, "others"))
	h.flash(c, "ok", "flash.sessions_revoked")
	c.Redirect(http.StatusSeeOther, "/account")
}
