package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
	"gatehouse/wecom"
)

// ForwardRecorder counts forward-auth checks by app and outcome (Prometheus in production).
type ForwardRecorder interface {
	ForwardCheck(app, outcome string)
}

// forwardAuditAction is the audit action of an app decision (DESIGN.md §10).
const forwardAuditAction = "app.signin"

// ForwardAuth answers Caddy's forward_auth and Traefik's forwardAuth: the original request comes in
// X-Forwarded-Proto, -Host, -Uri and -Method.
func (h *Handlers) ForwardAuth(c *gin.Context) {
	o, ok := apps.FromForwarded(c.Request.Header)
	h.forwardCheck(c, o, ok, false)
}

// ForwardAuthNginx answers nginx's auth_request: the original request comes in X-Original-URL and
// X-Original-Method, and "sign in first" is a 401 with the sign-in URL in Location (nginx turns it
// into a redirect with error_page 401 =302).
func (h *Handlers) ForwardAuthNginx(c *gin.Context) {
	o, ok := apps.FromNginx(c.Request.Header)
	h.forwardCheck(c, o, ok, true)
}

// forwardCheck decides a check and answers it. Only the caller's own cookie is looked at; Gatehouse's
// query string and any Remote-* request headers play no part.
func (h *Handlers) forwardCheck(c *gin.Context, o apps.Original, valid, nginx bool) {
	var user *models.User
	if u, ok := CurrentUser(c); ok {
		user = &u
	}
	d := apps.Decision{Outcome: apps.OutcomeUncovered}
	if valid {
		var err error
		if d, err = h.Forward.Decide(c.Request.Context(), o, user); err != nil {
			h.fail(c, err)
			return
		}
	}
	if h.ForwardMetrics != nil {
		h.ForwardMetrics.ForwardCheck(d.App.Name, d.Outcome)
	}
	switch d.Outcome {
	case apps.OutcomeAllowed:
		d.Identity.Set(c.Writer.Header())
		c.Status(http.StatusOK)
	case apps.OutcomeSignin:
		target := apps.SigninURL(h.publicOrigin(c), o)
		if nginx {
			c.Header("Location", target)
			c.Status(http.StatusUnauthorized)
			return
		}
		c.Redirect(http.StatusFound, target)
	case apps.OutcomeDenied:
		if h.Forward.ShouldAudit(user.ID, d.App.ID) {
			h.audit(c, models.Event{Action: forwardAuditAction, Target: d.App.Name, Detail: map[string]any{"outcome": d.Outcome, "method": "forward", "host": apps.NormalizeHost(o.Host)}})
		}
		h.AppDenied(c, d.App)
	default:
		h.Forbidden(c)
	}
}

// publicOrigin is GATEHOUSE_BASE_URL; without it, the origin this request came to (which behind
// Caddy is the app's own: the dashboard warns about proxy apps without a base URL).
func (h *Handlers) publicOrigin(c *gin.Context) *url.URL {
	if h.BaseURL != nil {
		return h.BaseURL
	}
	u, _ := url.Parse(h.defaultOrigin(c))
	return u
}

// safeTarget is where a sign-in may send the browser afterwards: a local path (auth.SafeRedirect's
// rule), or the absolute URL of an app behind forward-auth (apps.Forward.ReturnTo's rule); "" for
// anything else.
func (h *Handlers) safeTarget(c *gin.Context, target string) string {
	if local := auth.SafeRedirect(target, ""); local != "" {
		return local
	}
	if h.Forward == nil || h.BaseURL == nil {
		return ""
	}
	if u, ok := h.Forward.ReturnTo(c.Request.Context(), target, h.BaseURL); ok {
		return u
	}
	return ""
}

// proxyWarnings are the dashboard's warnings about forward-auth: no public origin to send browsers
// to, or a proxy app's domain the session cookie never reaches.
func (h *Handlers) proxyWarnings(c *gin.Context, t views.Translator) ([]string, error) {
	list, err := h.Store.AppsOfType(c.Request.Context(), models.AppTypeProxy)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	var out []string
	if h.BaseURL == nil {
		out = append(out, t.T("proxy.warning.no_base_url"))
	}
	host := strings.ToLower(c.Request.Host)
	if h.BaseURL != nil {
		host = h.BaseURL.Host
	}
	for _, a := range list {
		for _, d := range a.Domains {
			if msg := cookieWarning(t, a, d, h.CookieDomain, host); msg != "" {
				out = append(out, msg)
			}
		}
	}
	return out, nil
}

// cookieWarning tells whether the session cookie reaches an app's domain: with a cookie domain, the
// domain must be inside it; without one, the cookie stays on Gatehouse's host, so the app must be on
// that very host (ports do not separate cookies).
func cookieWarning(t views.Translator, a models.App, domain, cookieDomain, host string) string {
	d := strings.ToLower(strings.TrimPrefix(domain, "*."))
	title := a.Title
	if title == "" {
		title = a.Name
	}
	if cookieDomain != "" {
		if d != cookieDomain && !strings.HasSuffix(d, "."+cookieDomain) {
			return t.T("proxy.warning.cookie_domain_outside", "Title", title, "Domain", domain, "CookieDomain", cookieDomain)
		}
		return ""
	}
	if strings.HasPrefix(domain, "*.") || apps.NormalizeHost(d) != apps.NormalizeHost(host) {
		return t.T("proxy.warning.no_cookie_domain", "Title", title, "Domain", domain, "Host", apps.NormalizeHost(host))
	}
	return ""
}

// autoLoginTo is the start URL of the auto-login authenticator with target as the redirect, for a
// visitor inside the WeCom client who is not held back by the auto-login loop guard (DESIGN.md §6).
func (h *Handlers) autoLoginTo(c *gin.Context, target string) (string, bool) {
	if target == "" || !wecom.IsWeComClient(c.Request.UserAgent()) {
		return "", false
	}
	if _, guarded := h.States.Guard(c.Request); guarded {
		return "", false // the last automatic round failed: this page shows the way on
	}
	a, err := h.Store.AutoLoginAuthenticator(c.Request.Context())
	if err != nil {
		return "", false
	}
	h.States.SetGuard(c.Writer, c.Request, "pending")
	return wecomStartURL(a.Name, target) + "&auto=1", true
}
