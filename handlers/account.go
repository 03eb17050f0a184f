package handlers

import (
	"errors"
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
	canUnbind, err := h.Store.CanUnbindOwn(c.Request.Context(), u.ID, bindings)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.AccountData{User: u, Bindings: bindings, CanUnbind: canUnbind, Sessions: sessions, CurrentSession: currentSession(c).ID, Mobile: c.FullPath() == "/m"}
	if d.Directory, err = h.directoryViews(c.Request.Context(), u.ID, bindings); err != nil {
		h.fail(c, err)
		return
	}
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

// accountBack is the account page a form came from: the phone layout when it says so.
func accountBack(c *gin.Context) string {
	if c.PostForm("from") == "m" {
		return "/m"
	}
	return "/account"
}

// AccountUnbind lets members remove one of their own WeCom bindings, unless it is their only way to
// sign in; the sessions made through it end. Without confirm=yes it asks first.
func (h *Handlers) AccountUnbind(c *gin.Context) {
	u, _ := CurrentUser(c)
	bid, ok := pathID(c, "bid")
	if !ok {
		h.NotFound(c)
		return
	}
	back := accountBack(c)
	if c.PostForm("confirm") != "yes" {
		h.confirmUnbind(c, u.ID, bid, back)
		return
	}
	b, ended, err := h.Store.UnbindOwn(c.Request.Context(), u.ID, bid, h.Now())
	if errors.Is(err, models.ErrLastSignIn) {
		h.flash(c, "error", "flash.binding_last")
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionBindingDelete, Target: b.Subject, Detail: map[string]any{"user_id": u.ID, "authenticator_id": b.AuthenticatorID, "corp_id": b.CorpID, "sessions_ended": ended, "by": "self"}})
	h.flash(c, "ok", "flash.binding_deleted", "Subject", b.Subject)
	if cur := currentSession(c).AuthenticatorID; ended > 0 && cur != nil && *cur == b.AuthenticatorID {
		// This very session was made through the binding and has just ended.
		c.Redirect(http.StatusSeeOther, "/signin")
		return
	}
	c.Redirect(http.StatusSeeOther, back)
}
