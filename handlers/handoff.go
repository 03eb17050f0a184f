package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
	"gatehouse/wecom"
)

// offersHandoff tells whether a refusal is a desktop QR sign-in without a binding at an authenticator
// that offers the hand-off QR code (DESIGN.md §7).
func offersHandoff(a models.Authenticator, r *auth.Refusal) bool {
	return a.Options.Handoff && r.Outcome == auth.OutcomeFirstSigninInClient && !r.InClient && r.UserID != ""
}

// wecomHandoffOffer starts a hand-off for the member the desktop's QR sign-in saw, binds it to this
// browser and shows the first-sign-in page with the QR code.
func (h *Handlers) wecomHandoffOffer(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal) {
	t, err := h.WeCom.StartHandoff(c.Request.Context(), a, r.UserID, p.Redirect)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.States.BeginHandoff(c.Writer, c.Request, t); err != nil {
		h.fail(c, err)
		return
	}
	h.Metrics.Signin("wecom_handoff", "started")
	h.wecomRefusedWith(c, a, p, r, handoffData(a, t))
}

// handoffData is the desktop's hand-off box for ticket t.
func handoffData(a models.Authenticator, t auth.HandoffTicket) *views.HandoffData {
	base := "/auth/wecom/" + url.PathEscape(a.Name)
	return &views.HandoffData{
		Link:     a.Options.Origin + base + "/handoff/" + t.Token,
		Continue: base + "/handoff-continue",
		Cancel:   base + "/handoff-cancel",
		Status:   base + "/handoff-status",
		Expires:  t.Expires,
	}
}

// WeComHandoffOpen is the link in the QR code. In the WeCom client it goes straight to the in-client
// authorize for this hand-off; elsewhere it explains how to scan it with WeCom.
func (h *Handlers) WeComHandoffOpen(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, false)
	if !ok {
		return
	}
	hf, err := h.WeCom.OpenHandoff(c.Request.Context(), a, c.Param("token"))
	var refusal *auth.Refusal
	if errors.As(err, &refusal) {
		h.wecomRefused(c, a, auth.Pending{}, refusal)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if !wecom.IsWeComClient(c.Request.UserAgent()) {
		h.handoffScanHelp(c)
		return
	}
	p, err := h.States.Begin(c.Writer, c.Request, auth.Pending{Name: a.Name, Flow: auth.FlowInClient, Handoff: hf.ID})
	if err != nil {
		h.fail(c, err)
		return
	}
	callback := a.Options.Origin + "/auth/wecom/" + a.Name + "/callback"
	h.Metrics.Signin("wecom_handoff", "scanned")
	c.Redirect(http.StatusFound, wecom.AuthorizeURL(h.WeCom.Bases().OAuth, a.Options.CorpID, a.Options.AgentID, callback, p.State))
}

// handoffScanHelp tells someone who opened the link outside WeCom how to use it.
func (h *Handlers) handoffScanHelp(c *gin.Context) {
	t := h.T(c)
	d := views.ErrorData{Icon: "warn", Heading: t.T("handoff.scan_title"), Message: t.T("handoff.scan_text"),
		Steps: []string{t.T("handoff.scan_step1"), t.T("handoff.scan_step2"), t.T("handoff.scan_step3")}}
	p := h.page(c, "handoff.scan_title", "")
	p.Path = signinURL("") // never this URL: it holds the token
	h.render(c, http.StatusOK, views.ErrorPage(p, d))
}

// wecomHandoffCallback finishes the phone's side of a hand-off: the desktop's member binds, and the
// phone is told to go back to the computer, without a session of its own.
func (h *Handlers) wecomHandoffCallback(c *gin.Context, a models.Authenticator, p auth.Pending, code string) {
	_, err := h.WeCom.CompleteHandoff(c.Request.Context(), a, p.Handoff, code)
	var refusal *auth.Refusal
	if errors.As(err, &refusal) {
		h.Metrics.Signin("wecom_handoff", refusal.Outcome)
		h.wecomRefused(c, a, p, refusal)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Metrics.Signin("wecom_handoff", auth.OutcomeHandoffDone)
	h.wecomRefused(c, a, p, &auth.Refusal{Outcome: auth.OutcomeHandoffDone, InClient: true})
}

// WeComHandoffStatus answers the desktop page's polling: {"status": "handoff_pending" |
// "handoff_done" | "handoff_invalid", "done": …, "ended": …}.
func (h *Handlers) WeComHandoffStatus(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, false)
	if !ok {
		return
	}
	t, _ := h.States.PeekHandoff(c.Request, a.Name)
	status, err := h.WeCom.HandoffStatus(c.Request.Context(), a, t)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": status, "done": status == auth.OutcomeHandoffDone, "ended": status == auth.OutcomeHandoffInvalid})
}

// WeComHandoffContinue is the desktop's "I have scanned it": a new session once the phone is done,
// the QR code again while it is pending, handoff_invalid otherwise or in another browser.
func (h *Handlers) WeComHandoffContinue(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, false)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	t, _ := h.States.PeekHandoff(c.Request, a.Name)
	u, hf, err := h.WeCom.ClaimHandoff(ctx, a, t)
	var refusal *auth.Refusal
	switch {
	case errors.As(err, &refusal) && refusal.Outcome == auth.OutcomeHandoffPending:
		h.wecomRefusedWith(c, a, auth.Pending{}, refusal, handoffData(a, t))
		return
	case errors.As(err, &refusal):
		h.States.ClearHandoff(c.Writer, c.Request)
		h.wecomRefused(c, a, auth.Pending{Redirect: hf.Redirect}, refusal)
		return
	case err != nil:
		h.fail(c, err)
		return
	}
	h.States.ClearHandoff(c.Writer, c.Request)
	touch := func(tx *models.Store) error {
		if err := tx.TouchBinding(ctx, hf.BindingID, h.Now()); err != nil {
			return err
		}
		return tx.Audit(ctx, models.Event{ActorUserID: u.ID, Action: models.ActionHandoffUsed, Target: hf.Subject,
			Detail: map[string]any{"authenticator": a.Name, "handoff": hf.ID}})
	}
	if err := h.startSession(c, u, a.ID, "wecom_handoff", touch); err != nil {
		h.fail(c, err)
		return
	}
	h.States.ClearGuard(c.Writer, c.Request)
	c.Redirect(http.StatusSeeOther, h.landing(c, a, hf.Redirect))
}

// WeComHandoffCancel ends this desktop's pending hand-off and returns to the sign-in page.
func (h *Handlers) WeComHandoffCancel(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, false)
	if !ok {
		return
	}
	t, _ := h.States.PeekHandoff(c.Request, a.Name)
	cancelled, err := h.WeCom.CancelHandoff(c.Request.Context(), a, t)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.States.ClearHandoff(c.Writer, c.Request)
	if cancelled {
		h.Metrics.Signin("wecom_handoff", "cancelled")
	}
	c.Redirect(http.StatusSeeOther, "/signin")
}
