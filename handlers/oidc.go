package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/views"
)

// oidcRecorder counts OpenID Connect sign-ins by app and outcome (Prometheus in production).
type oidcRecorder interface {
	OIDCSignin(app, outcome string)
}

// oidcOutcome audits and counts one decision about a sign-in to an app.
func (h *Handlers) oidcOutcome(c *gin.Context, app models.App, outcome string) {
	h.audit(c, apps.SigninEvent(app, 0, "", outcome)) // h.audit sets the actor and the address
	h.countOIDC(app.Name, outcome)
}

func (h *Handlers) countOIDC(app, outcome string) {
	if m, ok := h.Metrics.(oidcRecorder); ok {
		m.OIDCSignin(app, outcome)
	}
}

// OIDCOutcome records a refusal the provider decided without a request of its own (a replayed code).
func (h *Handlers) OIDCOutcome(ctx context.Context, app models.App, userID int64, outcome string) {
	if err := h.Store.Audit(ctx, apps.SigninEvent(app, userID, "", outcome)); err != nil {
		h.Log.Error("write audit event", "action", apps.ActionSigninOIDC, "err", err)
	}
	h.countOIDC(app.Name, outcome)
}

// OIDCEndpoint serves the provider library's endpoints (discovery, keys, token, userinfo, revocation,
// introspection, end_session).
func (h *Handlers) OIDCEndpoint(c *gin.Context) {
	h.OIDC.Handler().ServeHTTP(c.Writer, c.Request)
}

// OIDCAuthorize is the authorize endpoint: an unknown client or an unregistered redirect URI gets a
// Gatehouse error page (400, never a redirect); a public client without PKCE S256 is refused at its
// redirect URI; anything else is the library's.
func (h *Handlers) OIDCAuthorize(c *gin.Context) {
	app, problem, redirect := h.OIDC.CheckAuthorize(c.Request)
	switch problem {
	case apps.ProblemUnknownClient:
		h.countOIDC("", problem)
		h.errorPage(c, http.StatusBadRequest, "oidc.bad_client_heading", "oidc.bad_client_text")
		return
	case apps.ProblemBadRedirectURI:
		h.oidcOutcome(c, app, problem)
		h.errorPage(c, http.StatusBadRequest, "oidc.bad_redirect_heading", "oidc.bad_redirect_text")
		return
	case apps.ProblemInvalidRequest:
		h.countOIDC("", problem)
		h.errorPage(c, http.StatusBadRequest, "oidc.bad_request_heading", "oidc.bad_request_text")
		return
	}
	if redirect != "" {
		h.oidcOutcome(c, app, "pkce_required")
		c.Redirect(http.StatusFound, redirect)
		return
	}
	h.OIDC.Handler().ServeHTTP(c.Writer, h.OIDC.WithApp(c.Request, app))
}

// OIDCEndSession is RP-initiated logout: an unknown client gets the error page (the library would
// answer server_error); the rest, validated by the library, leads to the sign-out confirmation.
func (h *Handlers) OIDCEndSession(c *gin.Context) {
	if id := c.Query("client_id"); id != "" {
		if _, err := h.OIDC.AppByClientID(c.Request.Context(), id); errors.Is(err, models.ErrNotFound) {
			h.errorPage(c, http.StatusBadRequest, "oidc.bad_client_heading", "oidc.bad_client_text")
			return
		} else if err != nil {
			h.fail(c, err)
			return
		}
	}
	h.OIDC.Handler().ServeHTTP(c.Writer, c.Request)
}

// OIDCCallback lets the library issue the code only to the browser whose session completed the
// request: the code goes to whoever asks, so the request's id alone is not enough.
func (h *Handlers) OIDCCallback(c *gin.Context) {
	r, ok, err := h.OIDC.CallbackAllowed(c.Request, currentSession(c).ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if !ok {
		h.errorPage(c, http.StatusBadRequest, "oidc.expired_heading", "oidc.expired_text")
		return
	}
	h.OIDC.Handler().ServeHTTP(c.Writer, r)
}

// oidcFormAction lets the sign-in form's redirect chain end at the app: after signing in for an app,
// POST /signin → the hand-off → the callback → the app's redirect URI, and browsers hold every hop of
// a form's redirects to the page's CSP form-action. So when the form comes back to the hand-off, the
// app's redirect URI origin joins 'self' there.
func (h *Handlers) oidcFormAction(c *gin.Context, redirect string) {
	if h.OIDC == nil {
		return
	}
	origin, ok := h.OIDC.RedirectOriginFor(c.Request.Context(), redirect)
	if !ok {
		return
	}
	hdr := c.Writer.Header()
	if csp := hdr.Get("Content-Security-Policy"); strings.Contains(csp, "form-action 'self'") {
		hdr.Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1))
	}
}

// OIDCLogin is the provider's login hand-off: finish at once with a fresh enough session, else sign
// in (inside the WeCom client with auto login, straight through WeCom) and come back here.
func (h *Handlers) OIDCLogin(c *gin.Context) {
	var user *models.User
	var sess *models.Session
	if u, ok := CurrentUser(c); ok {
		s := currentSession(c)
		user, sess = &u, &s
	}
	res, err := h.OIDC.Login(c.Request.Context(), c.Query("id"), user, sess, c.ClientIP())
	if err != nil {
		h.fail(c, err)
		return
	}
	switch res.Kind {
	case apps.LoginInvalid:
		h.errorPage(c, http.StatusBadRequest, "oidc.expired_heading", "oidc.expired_text")
	case apps.LoginFinish, apps.LoginRefuse:
		if res.Audited {
			h.countOIDC(res.App.Name, res.Outcome)
		} else {
			h.oidcOutcome(c, res.App, res.Outcome)
		}
		c.Redirect(http.StatusFound, res.URL)
	case apps.LoginDenied:
		h.oidcOutcome(c, res.App, res.Outcome)
		h.AppDenied(c, res.App)
	case apps.LoginSignin:
		back := c.Request.URL.RequestURI()
		if !res.ForceLogin {
			if target, ok := h.AutoLoginTarget(c); ok {
				c.Redirect(http.StatusSeeOther, target)
				return
			}
		}
		q := url.Values{"redirect": {back}}
		if res.ForceLogin {
			q.Set("prompt", "login")
		}
		if res.LoginHint != "" {
			q.Set("login_hint", res.LoginHint)
		}
		c.Redirect(http.StatusSeeOther, "/signin?"+q.Encode())
	}
}

// OIDCLogoutPage is where an app's RP-initiated logout lands: signed in, a confirmation; signed out
// already, straight on to the app's registered post-logout URI.
func (h *Handlers) OIDCLogoutPage(c *gin.Context) {
	target, clientID, ok := h.OIDC.LogoutTarget(c.Query("t"))
	if !ok {
		h.errorPage(c, http.StatusBadRequest, "oidc.expired_heading", "oidc.expired_text")
		return
	}
	if _, signedIn := CurrentUser(c); !signedIn {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	d := views.OIDCLogoutData{Ticket: c.Query("t"), Cancel: "/"}
	if clientID != "" {
		if app, err := h.OIDC.AppByClientID(c.Request.Context(), clientID); err == nil {
			d.AppTitle = app.Title
			if d.AppTitle == "" {
				d.AppTitle = app.Name
			}
		}
	}
	h.render(c, http.StatusOK, views.OIDCLogout(h.page(c, "oidc.logout_heading", ""), d))
}

// OIDCLogout ends the browser's Gatehouse session (and with it the app tokens issued from it), then
// goes on to the app's post-logout URI.
func (h *Handlers) OIDCLogout(c *gin.Context) {
	target, clientID, ok := h.OIDC.LogoutTarget(c.PostForm("t"))
	if !ok {
		h.errorPage(c, http.StatusBadRequest, "oidc.expired_heading", "oidc.expired_text")
		return
	}
	if u, signedIn := CurrentUser(c); signedIn {
		if err := h.Sessions.Revoke(c.Writer, c.Request); err != nil {
			h.fail(c, err)
			return
		}
		h.audit(c, models.Event{ActorUserID: u.ID, Action: models.ActionSignout, Target: u.Username,
			Detail: map[string]any{"oidc_client_id": clientID}})
	}
	c.Redirect(http.StatusSeeOther, target)
}
