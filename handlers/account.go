package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
	"gatehouse/views"
)

// Account shows members their profile, WeCom bindings and sessions; /m is the same for phones.
func (h *Handlers) Account(c *gin.Context) {
	u, _ := CurrentUser(c)
	bindings, sessions, err := h.bindingsAndSessions(c, u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.AccountData{User: u, Bindings: bindings, Sessions: sessions, CurrentSession: currentSession(c).ID, Mobile: c.FullPath() == "/m"}
	h.render(c, http.StatusOK, views.AccountPage(h.page(c, "account.title", ""), d))
}

// bindingsAndSessions loads what the account and user pages show of a user's sign-ins.
func (h *Handlers) bindingsAndSessions(c *gin.Context, userID int64) ([]models.BindingWithAuthenticator, []models.Session, error) {
	bindings, err := h.Store.UserBindings(c.Request.Context(), userID)
	if err != nil {
		return nil, nil, err
	}
	sessions, err := h.Store.UserSessions(c.Request.Context(), userID, h.Now())
	return bindings, sessions, err
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
