package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
	"gatehouse/wecom"
)

// WeComStart picks the flow by User-Agent (in-client OAuth inside WeCom, QR login elsewhere), binds a
// fresh state to this browser and sends it to WeCom.
func (h *Handlers) WeComStart(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, false)
	if !ok {
		return
	}
	// The state cookie must be set on the host WeCom will call back, so move to the configured origin
	// first (once: the marker stops a loop behind a proxy that rewrites Host).
	if o, err := url.Parse(a.Options.Origin); err == nil && o.Host != c.Request.Host && c.Query("canonical") == "" {
		q := c.Request.URL.Query()
		q.Set("canonical", "1")
		c.Redirect(http.StatusSeeOther, a.Options.Origin+c.Request.URL.Path+"?"+q.Encode())
		return
	}
	inClient := wecom.IsWeComClient(c.Request.UserAgent())
	p := auth.Pending{Name: a.Name, Redirect: h.safeTarget(c, c.Query("redirect")), Flow: auth.FlowQR, Auto: c.Query("auto") == "1"}
	if inClient {
		p.Flow = auth.FlowInClient
	}
	p, err := h.States.Begin(c.Writer, c.Request, p)
	if err != nil {
		h.fail(c, err)
		return
	}
	callback := a.Options.Origin + "/auth/wecom/" + a.Name + "/callback"
	bases := h.WeCom.Bases()
	target := wecom.QRLoginURL(bases.Login, a.Options.CorpID, a.Options.AgentID, callback, p.State, h.T(c).Lang)
	if inClient {
		target = wecom.AuthorizeURL(bases.OAuth, a.Options.CorpID, a.Options.AgentID, callback, p.State)
	}
	h.Metrics.Signin("wecom", "started")
	c.Redirect(http.StatusFound, target)
}

// WeComCallback completes a WeCom sign-in (DESIGN.md §6, rules 1–7 in order).
func (h *Handlers) WeComCallback(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, true)
	if !ok {
		return
	}
	p, err := h.States.Take(c.Writer, c.Request, a.Name, c.Query("state"))
	if err != nil {
		h.wecomRefused(c, a, p, &auth.Refusal{Outcome: auth.OutcomeStateInvalid})
		return
	}
	code := c.Query("code")
	if code == "" {
		h.wecomRefused(c, a, p, &auth.Refusal{Outcome: auth.OutcomeCancelled})
		return
	}
	if !auth.PlausibleCode(code) {
		// Not a code WeCom issued: refused like a forged callback, before anything reaches WeCom.
		h.wecomRefused(c, a, p, &auth.Refusal{Outcome: auth.OutcomeStateInvalid})
		return
	}
	if p.Handoff != 0 {
		h.wecomHandoffCallback(c, a, p, code)
		return
	}
	u, b, err := h.WeCom.SignIn(c.Request.Context(), a, code, p.Flow == auth.FlowInClient)
	var refusal *auth.Refusal
	if errors.As(err, &refusal) && refusal.Outcome == auth.OutcomeConfirmPassword {
		h.wecomConfirmAsk(c, a, p, refusal)
		return
	}
	if errors.As(err, &refusal) && offersHandoff(a, refusal) {
		h.wecomHandoffOffer(c, a, p, refusal)
		return
	}
	h.wecomFinish(c, a, p, u, b, err)
}

// wecomFinish ends a WeCom sign-in: the refusal's outcome page, or a new session for u (through
// binding b) and the landing page.
func (h *Handlers) wecomFinish(c *gin.Context, a models.Authenticator, p auth.Pending, u models.User, b models.Binding, err error) {
	var refusal *auth.Refusal
	if errors.As(err, &refusal) {
		h.wecomRefused(c, a, p, refusal)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	touch := func(tx *models.Store) error { return tx.TouchBinding(c.Request.Context(), b.ID, h.Now()) }
	if err := h.startSession(c, u, a.ID, "wecom", touch); err != nil {
		h.fail(c, err)
		return
	}
	h.States.ClearGuard(c.Writer, c.Request)
	c.Redirect(http.StatusSeeOther, h.landing(c, a, p.Redirect))
}

// wecomConfirmAsk keeps the mobile match in this browser and asks the matched user's password.
func (h *Handlers) wecomConfirmAsk(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal) {
	u, err := h.Store.UserByID(c.Request.Context(), r.MatchedUserID)
	if err != nil {
		h.fail(c, err)
		return
	}
	pb := auth.PendingBind{Name: a.Name, Subject: r.UserID, Corp: a.Options.CorpID, UserID: u.ID, Redirect: p.Redirect}
	if err := h.States.BeginBind(c.Writer, c.Request, pb); err != nil {
		h.fail(c, err)
		return
	}
	h.Metrics.Signin("wecom", auth.OutcomeConfirmPassword)
	h.renderConfirm(c, http.StatusOK, a, u, pb, nil)
}

func (h *Handlers) renderConfirm(c *gin.Context, status int, a models.Authenticator, u models.User, pb auth.PendingBind, errs views.FieldErrors) {
	p := h.page(c, "confirm_password.title", "")
	p.Path = signinURL(pb.Redirect) // never this URL: on a callback it holds the code
	d := views.ConfirmPasswordData{Username: u.Username, Action: "/auth/wecom/" + a.Name + "/confirm", Errors: errs, Other: signinURL(pb.Redirect)}
	h.render(c, status, views.ConfirmPasswordPage(p, d))
}

// WeComConfirm checks the password of the user a WeCom mobile match found (an administrator or an
// account with a password), then binds the member and signs in with a new session. A wrong password
// shows the page again and binds nothing; the password throttle applies as on the sign-in page.
func (h *Handlers) WeComConfirm(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	pb, err := h.States.PeekBind(c.Request, a.Name)
	if err != nil {
		h.States.ClearBind(c.Writer, c.Request)
		h.wecomRefused(c, a, auth.Pending{}, &auth.Refusal{Outcome: auth.OutcomeStateInvalid})
		return
	}
	u, err := h.Store.UserByID(ctx, pb.UserID)
	if err != nil {
		h.fail(c, err)
		return
	}
	t := h.T(c)
	verified, err := h.Passwords.Verify(ctx, u.Username, c.PostForm("password"), c.ClientIP())
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		c.Header("Retry-After", strconv.Itoa(int(throttled.Wait.Seconds())+1))
		h.renderConfirm(c, http.StatusTooManyRequests, a, u, pb, views.FieldErrors{"password": t.T("confirm_password.throttled", "Minutes", throttled.Minutes())})
		return
	case errors.Is(err, auth.ErrInvalidCredentials) || (err == nil && verified.ID != u.ID):
		h.renderConfirm(c, http.StatusUnauthorized, a, u, pb, views.FieldErrors{"password": t.T("confirm_password.invalid")})
		return
	case err != nil && !errors.Is(err, auth.ErrUserDisabled):
		h.fail(c, err)
		return
	}
	h.States.ClearBind(c.Writer, c.Request)
	p := auth.Pending{Name: a.Name, Redirect: pb.Redirect, Flow: auth.FlowInClient}
	b, err := h.WeCom.ConfirmBind(ctx, a, pb, verified)
	h.wecomFinish(c, a, p, verified, b, err)
}

// landing is where a WeCom sign-in ends: the asked-for page, else the phone or desktop default.
func (h *Handlers) landing(c *gin.Context, a models.Authenticator, asked string) string {
	if target := h.safeTarget(c, asked); target != "" {
		return target
	}
	def := auth.SafeRedirect(a.Options.RedirectPath, "/")
	if wecom.IsMobile(c.Request.UserAgent()) {
		return auth.SafeRedirect(a.Options.MobileRedirectPath, def)
	}
	return def
}

// wecomAuthenticator loads the enabled WeCom authenticator named in the path, or renders the
// authenticator_unavailable page. On a callback or a password confirmation (ending true) that page
// also clears the state and pending-binding cookies: rule 1 clears them whatever happens next.
func (h *Handlers) wecomAuthenticator(c *gin.Context, ending bool) (models.Authenticator, bool) {
	a, err := h.Store.EnabledAuthenticatorByName(c.Request.Context(), c.Param("name"))
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		h.fail(c, err)
		return a, false
	}
	if err != nil || !a.IsWeCom() || !a.Enabled {
		if ending {
			h.States.Clear(c.Writer, c.Request)
			h.States.ClearBind(c.Writer, c.Request)
		}
		h.wecomRefused(c, models.Authenticator{Name: c.Param("name")}, auth.Pending{}, &auth.Refusal{Outcome: auth.OutcomeAuthenticatorUnavailable})
		return a, false
	}
	return a, true
}

// outcomeStatus is the HTTP status of each refusal page (DESIGN.md §6).
var outcomeStatus = map[string]int{
	auth.OutcomeStateInvalid:             http.StatusBadRequest,
	auth.OutcomeAuthenticatorUnavailable: http.StatusNotFound,
	auth.OutcomeCancelled:                http.StatusForbidden,
	auth.OutcomeNotMember:                http.StatusForbidden,
	auth.OutcomeNoAccount:                http.StatusForbidden,
	auth.OutcomeFirstSigninInClient:      http.StatusForbidden,
	auth.OutcomeUserDisabled:             http.StatusForbidden,
	auth.OutcomeBindingConflict:          http.StatusConflict,
	auth.OutcomeBindByAdmin:              http.StatusForbidden,
	auth.OutcomeMemberLeft:               http.StatusForbidden,
	auth.OutcomeConfirmPassword:          http.StatusOK,
	auth.OutcomeWeComError:               http.StatusBadGateway,
	auth.OutcomeHandoffDone:              http.StatusOK,
	auth.OutcomeHandoffPending:           http.StatusOK,
	auth.OutcomeHandoffMismatch:          http.StatusForbidden,
	auth.OutcomeHandoffInvalid:           http.StatusGone,
}

// wecomRefused ends a WeCom sign-in without a session: an audit event, a metric, the loop guard for
// auto login, and a page that says why and what to do next.
func (h *Handlers) wecomRefused(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal) {
	h.wecomRefusedWith(c, a, p, r, nil)
}

// wecomRefusedWith is wecomRefused with the hand-off QR code on the page when hd is set. A hand-off
// still pending or done is not a refusal: the hand-off service audits what happened to it.
func (h *Handlers) wecomRefusedWith(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal, hd *views.HandoffData) {
	if r.Outcome != auth.OutcomeHandoffPending && r.Outcome != auth.OutcomeHandoffDone {
		h.auditRefusal(c, a, p, r)
	}
	t := h.T(c)
	d := views.ErrorData{
		Outcome: r.Outcome,
		Icon:    "error",
		Heading: t.T("outcome." + r.Outcome + ".title"),
		Message: t.T("outcome." + r.Outcome + ".text"),
		Handoff: hd,
	}
	switch r.Outcome {
	case auth.OutcomeFirstSigninInClient:
		d.Icon = "warn"
		if r.InClient {
			d.Message = t.T("outcome.first_signin_in_client.text_in_client")
		} else {
			for i := 1; i <= 4; i++ {
				d.Steps = append(d.Steps, t.T("outcome.first_signin_in_client.step"+strconv.Itoa(i)))
			}
		}
	case auth.OutcomeWeComError:
		d.Message = wecomErrorText(t, r.Code)
		d.Reference = t.T("outcome.wecom_error.reference", "Code", r.Code)
	case auth.OutcomeCancelled, auth.OutcomeHandoffPending, auth.OutcomeConfirmPassword:
		d.Icon = "warn"
	case auth.OutcomeHandoffDone:
		d.Icon = "ok"
	}
	// Trying again helps unless the authenticator is gone, the answer would be the same page (a QR
	// sign-in that must first happen inside the WeCom app), or a hand-off ended: that starts again on
	// the desktop.
	retry := r.Outcome != auth.OutcomeAuthenticatorUnavailable && r.Outcome != auth.OutcomeMemberLeft && !(r.Outcome == auth.OutcomeFirstSigninInClient && !r.InClient) &&
		p.Handoff == 0 && !strings.HasPrefix(r.Outcome, "handoff_")
	if retry {
		d.Actions = append(d.Actions, views.Link{Label: t.T("outcome.try_again"), URL: wecomStartURL(a.Name, p.Redirect), Primary: true, TestID: "outcome-try-again"})
	}
	if r.Outcome != auth.OutcomeHandoffDone && r.Outcome != auth.OutcomeHandoffPending {
		d.Actions = append(d.Actions, views.Link{Label: t.T("outcome.other_way"), URL: signinURL(p.Redirect), Primary: !retry && hd == nil, TestID: "outcome-other-way"})
	}
	p2 := h.page(c, "outcome."+r.Outcome+".title", "")
	// The language switch returns to the sign-in page, never to this URL: on a callback it holds
	// the one-time code and state, which must not be echoed into a form.
	p2.Path = signinURL(p.Redirect)
	h.render(c, outcomeStatus[r.Outcome], views.ErrorPage(p2, d))
}

// auditRefusal records a WeCom sign-in that ended without a session.
func (h *Handlers) auditRefusal(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal) {
	detail := map[string]any{"method": "wecom", "outcome": r.Outcome, "authenticator": a.Name}
	if r.Code != 0 {
		detail["errcode"] = r.Code
	}
	if r.UserID != "" {
		detail["wecom_userid"] = r.UserID
	}
	target := a.Name
	if r.UserID != "" {
		target = r.UserID
	}
	h.audit(c, models.Event{Action: models.ActionSigninRefused, Target: target, Detail: detail})
	h.Metrics.Signin("wecom", r.Outcome)
	if r.Err != nil {
		h.Log.Warn("wecom sign-in refused", "authenticator", a.Name, "outcome", r.Outcome, "err", r.Err)
		if err := h.WeCom.RememberOutboundIP(c.Request.Context(), a, r.Err); err != nil {
			h.Log.Warn("remember outbound IP", "authenticator", a.Name, "err", err)
		}
	}
	if p.Auto {
		h.States.SetGuard(c.Writer, c.Request, r.Outcome)
	}
}

// wecomErrorText says in plain words what a WeCom errcode means for the person signing in.
func wecomErrorText(t views.Translator, code int) string {
	switch {
	case code == 40029 || code == 84014 || code == 84015:
		return t.T("outcome.wecom_error.expired")
	case code == 60011:
		return t.T("outcome.wecom_error.not_visible")
	case code == 60111:
		return t.T("outcome.wecom_error.member_gone")
	case code == 45009 || code == -1:
		return t.T("outcome.wecom_error.busy")
	case wecom.IsConfigError(code):
		return t.T("outcome.wecom_error.config")
	case code == wecom.CodeUnreachable:
		return t.T("outcome.wecom_error.unreachable")
	case code == wecom.CodeBreakerOpen:
		return t.T("outcome.wecom_error.paused")
	}
	return t.T("outcome.wecom_error.text")
}

func signinURL(redirect string) string {
	if redirect == "" {
		return "/signin"
	}
	return "/signin?redirect=" + url.QueryEscape(redirect)
}
