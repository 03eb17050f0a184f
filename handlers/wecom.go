package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
	"gatehouse/wecom"
)

// WeComStart picks the flow by User-Agent (in-client OAuth inside WeCom, QR login elsewhere), binds a
// fresh state to this browser and sends it to WeCom.
func (h *Handlers) WeComStart(c *gin.Context) {
	a, ok := h.wecomAuthenticator(c)
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
	p := auth.Pending{Name: a.Name, Redirect: auth.SafeRedirect(c.Query("redirect"), ""), Flow: auth.FlowQR, Auto: c.Query("auto") == "1"}
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
	a, ok := h.wecomAuthenticator(c)
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
	u, b, err := h.WeCom.SignIn(c.Request.Context(), a, code, p.Flow == auth.FlowInClient)
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

// landing is where a WeCom sign-in ends: the asked-for page, else the phone or desktop default.
func (h *Handlers) landing(c *gin.Context, a models.Authenticator, asked string) string {
	if target := auth.SafeRedirect(asked, ""); target != "" {
		return target
	}
	def := auth.SafeRedirect(a.Options.RedirectPath, "/")
	if wecom.IsMobile(c.Request.UserAgent()) {
		return auth.SafeRedirect(a.Options.MobileRedirectPath, def)
	}
	return def
}

// wecomAuthenticator loads the enabled WeCom authenticator named in the path, or renders the
// authenticator_unavailable page.
func (h *Handlers) wecomAuthenticator(c *gin.Context) (models.Authenticator, bool) {
	a, err := h.Store.EnabledAuthenticatorByName(c.Request.Context(), c.Param("name"))
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		h.fail(c, err)
		return a, false
	}
	if err != nil || !a.IsWeCom() || !a.Enabled {
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
	auth.OutcomeWeComError:               http.StatusBadGateway,
}

// wecomRefused ends a WeCom sign-in without a session: an audit event, a metric, the loop guard for
// auto login, and a page that says why and what to do next.
func (h *Handlers) wecomRefused(c *gin.Context, a models.Authenticator, p auth.Pending, r *auth.Refusal) {
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
	t := h.T(c)
	d := views.ErrorData{
		Outcome: r.Outcome,
		Icon:    "error",
		Heading: t.T("outcome." + r.Outcome + ".title"),
		Message: t.T("outcome." + r.Outcome + ".text"),
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
	case auth.OutcomeCancelled:
		d.Icon = "warn"
	}
	// Trying again helps unless the authenticator is gone, or the answer would be the same page: a QR
	// sign-in that must first happen inside the WeCom app.
	retry := r.Outcome != auth.OutcomeAuthenticatorUnavailable && !(r.Outcome == auth.OutcomeFirstSigninInClient && !r.InClient)
	if retry {
		d.Actions = append(d.Actions, views.Link{Label: t.T("outcome.try_again"), URL: wecomStartURL(a.Name, p.Redirect), Primary: true, TestID: "outcome-try-again"})
	}
	d.Actions = append(d.Actions, views.Link{Label: t.T("outcome.other_way"), URL: signinURL(p.Redirect), Primary: !retry, TestID: "outcome-other-way"})
	p2 := h.page(c, "outcome."+r.Outcome+".title", "")
	h.render(c, outcomeStatus[r.Outcome], views.ErrorPage(p2, d))
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
