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

// Home sends people where they belong: admins to /admin, members to /account, others to sign in.
func (h *Handlers) Home(c *gin.Context) {
	if u, ok := CurrentUser(c); ok {
		c.Redirect(http.StatusSeeOther, homeFor(u))
		return
	}
	if target, ok := h.AutoLoginTarget(c); ok {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	c.Redirect(http.StatusSeeOther, "/signin")
}

func homeFor(u models.User) string {
	if u.IsAdmin {
		return "/admin"
	}
	return "/account"
}

// SigninPage shows the password form and the WeCom buttons.
func (h *Handlers) SigninPage(c *gin.Context) {
	redirect := h.safeTarget(c, c.Query("redirect"))
	// rd (forward-auth, DESIGN.md §10) is an app's absolute URL; it wins over redirect when it is safe.
	rd := h.safeTarget(c, c.Query("rd"))
	if rd != "" {
		redirect = rd
	}
	// prompt=login: an OpenID Connect app asked for a new sign-in although the browser has a session.
	if u, ok := CurrentUser(c); ok && c.Query("prompt") != "login" {
		c.Redirect(http.StatusSeeOther, orDefault(redirect, homeFor(u)))
		return
	}
	// Sent here by forward-auth from inside the WeCom client: straight on through WeCom, as auto
	// login does for Gatehouse's own pages (once per loop-guard lifetime).
	if target, ok := h.autoLoginTo(c, rd); ok {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	h.renderSignin(c, http.StatusOK, views.SigninData{Redirect: redirect, Error: h.reason(c, c.Query("reason")), Username: models.TruncateText(c.Query("login_hint"), 64)})
}

func (h *Handlers) renderSignin(c *gin.Context, status int, d views.SigninData) {
	h.oidcFormAction(c, d.Redirect)
	list, err := h.Store.EnabledAuthenticators(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, a := range list {
		switch a.Type {
		case models.TypePassword:
			d.PasswordEnabled = true
		case models.TypeWeCom:
			d.WeCom = append(d.WeCom, a)
		}
	}
	d.StartURL = func(a models.Authenticator) string { return wecomStartURL(a.Name, d.Redirect) }
	d.WeComFirst = wecom.IsWeComClient(c.Request.UserAgent())
	h.render(c, status, views.SigninPage(h.page(c, "signin.title", ""), d))
}

// Signin checks a username and password and issues a new session.
func (h *Handlers) Signin(c *gin.Context) {
	username := c.PostForm("username")
	redirect := h.safeTarget(c, c.PostForm("redirect"))
	t := h.T(c)
	again := func(status int, msg string) {
		h.renderSignin(c, status, views.SigninData{Username: username, Redirect: redirect, Error: msg})
	}
	pw, err := h.Store.AuthenticatorByName(c.Request.Context(), models.PasswordAuthenticatorName)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		h.fail(c, err)
		return
	}
	if err != nil || !pw.Enabled {
		again(http.StatusForbidden, t.T("signin.password_disabled"))
		return
	}
	src := auth.Source{IP: c.ClientIP(), Device: h.Passwords.Devices().Read(c.Request)}
	u, err := h.Passwords.VerifyFrom(c.Request.Context(), username, c.PostForm("password"), src)
	if errors.Is(err, models.ErrAuditSuppressed) {
		h.auditSuppressed(models.ActionSigninFailed)
	}
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		h.Metrics.Signin("password", "throttled")
		c.Header("Retry-After", strconv.Itoa(int(throttled.Wait.Seconds())+1))
		again(http.StatusTooManyRequests, t.T("signin.throttled", "Minutes", throttled.Minutes()))
	case errors.Is(err, auth.ErrInvalidCredentials):
		h.Metrics.Signin("password", "invalid_credentials")
		again(http.StatusUnauthorized, t.T("signin.invalid"))
	case errors.Is(err, auth.ErrUserDisabled):
		h.Metrics.Signin("password", "user_disabled")
		h.audit(c, models.Event{Action: models.ActionSigninRefused, Target: u.Username, Detail: map[string]any{"method": "password", "outcome": "user_disabled"}})
		again(http.StatusForbidden, t.T("signin.disabled"))
	case err != nil:
		h.fail(c, err)
	default:
		if err := h.startSession(c, u, pw.ID, "password", nil); err != nil {
			h.fail(c, err)
			return
		}
		c.Redirect(http.StatusSeeOther, orDefault(redirect, homeFor(u)))
	}
}

// orDefault is target, or def when target is empty.
func orDefault(target, def string) string {
	if target == "" {
		return def
	}
	return target
}

// startSession issues a fresh session for u and records the sign-in, with also's writes (such as
// touching a WeCom binding), all in one transaction.
func (h *Handlers) startSession(c *gin.Context, u models.User, authenticatorID int64, method string, also func(*models.Store) error) error {
	ctx := c.Request.Context()
	err := h.Sessions.Issue(c.Writer, c.Request, u.ID, authenticatorID, c.ClientIP(), func(tx *models.Store) error {
		if err := tx.MarkSignedIn(ctx, u.ID, h.Now()); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, models.Event{ActorUserID: u.ID, Action: models.ActionSigninOK, Target: u.Username, IP: c.ClientIP(), Detail: map[string]any{"method": method}})
	})
	if err != nil {
		return err
	}
	// The browser keeps its own password allowance for this account from now on (DESIGN.md §6); a
	// failure here only costs it that, not the sign-in.
	if err := h.Passwords.Devices().Remember(c.Writer, c.Request, u.Username); err != nil {
		h.Log.Warn("set device cookie", "err", err)
	}
	h.Metrics.Signin(method, "ok")
	return nil
}

// Signout revokes the session server-side.
func (h *Handlers) Signout(c *gin.Context) {
	u, _ := CurrentUser(c)
	if err := h.Sessions.Revoke(c.Writer, c.Request); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{ActorUserID: u.ID, Action: models.ActionSignout, Target: u.Username})
	h.flash(c, "info", "flash.signed_out")
	c.Redirect(http.StatusSeeOther, "/signin")
}

// SetLanguage remembers the language chosen in the footer for a year.
func (h *Handlers) SetLanguage(c *gin.Context) {
	lang := c.PostForm("lang")
	if lang != "en" && lang != "zh" {
		lang = "en"
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.https(c)})
	c.Redirect(http.StatusSeeOther, auth.SafeRedirect(c.PostForm("redirect"), "/"))
}

// reason translates a sign-in outcome name passed in ?reason= (after a failed automatic WeCom sign-in).
// Only known outcome names are shown, so the query string cannot put arbitrary text on the page.
func (h *Handlers) reason(c *gin.Context, outcome string) string {
	if outcome == "" {
		return ""
	}
	id := "outcome." + outcome + ".text"
	if msg := h.T(c).T(id); msg != id {
		return msg
	}
	return ""
}

// wecomStartURL links to an authenticator's start with the redirect target.
func wecomStartURL(name, redirect string) string {
	u := "/auth/wecom/" + name + "/start"
	if redirect != "" {
		u += "?redirect=" + url.QueryEscape(redirect)
	}
	return u
}
