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

// AuthenticatorNew shows the form for a new WeCom authenticator (the only type that can be added).
func (h *Handlers) AuthenticatorNew(c *gin.Context) {
	if t := c.Query("type"); t != "" && t != models.TypeWeCom {
		h.NotFound(c)
		return
	}
	form := views.WeComForm{Enabled: true, Handoff: true, Sort: "100", Origin: h.defaultOrigin(c), RedirectPath: "/", MobileRedirectPath: "/m"}
	h.renderWeComForm(c, http.StatusOK, models.Authenticator{}, form, nil)
}

// defaultOrigin proposes GATEHOUSE_BASE_URL, else the origin this page was requested on.
func (h *Handlers) defaultOrigin(c *gin.Context) string {
	if h.BaseURL != nil {
		return h.BaseURL.Scheme + "://" + h.BaseURL.Host
	}
	scheme := "http"
	if auth.IsHTTPS(c.Request) { // TLS here, or https said by a trusted proxy
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

func wecomInput(c *gin.Context) auth.WeComInput {
	return auth.WeComInput{
		Name: c.PostForm("name"), Title: c.PostForm("title"), Description: c.PostForm("description"),
		Enabled: c.PostForm("enabled") == "on", AutoSignup: c.PostForm("auto_signup") == "on", AutoLogin: c.PostForm("auto_login") == "on",
		Handoff: c.PostForm("handoff") == "on",
		Sort:    c.PostForm("sort"), CorpID: c.PostForm("corp_id"), AgentID: c.PostForm("agent_id"), Secret: c.PostForm("secret"),
		Origin: c.PostForm("origin"), RedirectPath: c.PostForm("redirect_path"), MobilePath: c.PostForm("mobile_redirect_path"),
		APIBase: c.PostForm("api_base"), DeleteBindings: c.PostForm("delete_bindings") == "on",
		EventToken: c.PostForm("event_token"), EventAESKey: c.PostForm("event_aes_key"), ClearEvents: c.PostForm("clear_events") == "on",
	}
}

// formFromInput keeps what was typed, except the secret.
func formFromInput(in auth.WeComInput) views.WeComForm {
	return views.WeComForm{Name: in.Name, Title: in.Title, Description: in.Description, Sort: in.Sort,
		Enabled: in.Enabled, AutoSignup: in.AutoSignup, AutoLogin: in.AutoLogin, Handoff: in.Handoff, CorpID: in.CorpID, AgentID: in.AgentID,
		Origin: in.Origin, RedirectPath: in.RedirectPath, MobileRedirectPath: in.MobilePath, APIBase: in.APIBase,
		DeleteBindings: in.DeleteBindings}
}

func formFromAuthenticator(a models.Authenticator) views.WeComForm {
	o := a.Options
	return views.WeComForm{Name: a.Name, Title: a.Title, Description: a.Description, Sort: strconv.Itoa(a.Sort),
		Enabled: a.Enabled, AutoSignup: o.AutoSignup, AutoLogin: a.AutoLogin, Handoff: o.Handoff, CorpID: o.CorpID, AgentID: strconv.FormatInt(o.AgentID, 10),
		Origin: o.Origin, RedirectPath: o.RedirectPath, MobileRedirectPath: o.MobileRedirectPath, APIBase: o.APIBase}
}

// AuthenticatorCreate saves a new WeCom authenticator; the secret is sealed at rest.
func (h *Handlers) AuthenticatorCreate(c *gin.Context) {
	if c.PostForm("type") != models.TypeWeCom {
		h.errorPage(c, http.StatusUnprocessableEntity, "wecom.bad_type", "wecom.bad_type_text")
		return
	}
	in := wecomInput(c)
	a, err := h.WeComAdmin.Create(c.Request.Context(), in)
	if h.wecomFormFailed(c, models.Authenticator{}, in, err) {
		return
	}
	h.audit(c, models.Event{Action: models.ActionAuthCreate, Target: a.Name, Detail: authenticatorDetail(a)})
	h.flash(c, "ok", "flash.authenticator_created", "Title", a.Title)
	c.Redirect(http.StatusSeeOther, "/admin/authenticators/"+strconv.FormatInt(a.ID, 10))
}

// AuthenticatorEdit shows a WeCom authenticator with what to paste into WeCom and the last test.
func (h *Handlers) AuthenticatorEdit(c *gin.Context) {
	a, ok := h.loadWeComAuthenticator(c)
	if !ok {
		return
	}
	h.renderWeComForm(c, http.StatusOK, a, formFromAuthenticator(a), nil)
}

// AuthenticatorUpdate saves a WeCom authenticator; an empty secret keeps the stored one.
func (h *Handlers) AuthenticatorUpdate(c *gin.Context) {
	a, ok := h.loadWeComAuthenticator(c)
	if !ok {
		return
	}
	in := wecomInput(c)
	ch, err := h.WeComAdmin.Update(c.Request.Context(), a.ID, in, currentSession(c).ID)
	if h.wecomFormFailed(c, a, in, err) {
		return
	}
	saved := ch.After
	h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: saved.Name, Detail: updateDetail(ch, in.Secret != "")})
	h.flash(c, "ok", "flash.authenticator_saved", "Title", saved.Title)
	c.Redirect(http.StatusSeeOther, "/admin/authenticators/"+strconv.FormatInt(a.ID, 10))
}

// wecomFormFailed re-renders the form for validation errors (input kept, secret never) or fails the
// request; it returns false when err is nil.
func (h *Handlers) wecomFormFailed(c *gin.Context, a models.Authenticator, in auth.WeComInput, err error) bool {
	if err == nil {
		return false
	}
	errs, ok := h.fieldErrors(c, err)
	if !ok {
		h.fail(c, err)
		return true
	}
	if _, taken := errs["auto_login"]; taken {
		if holder, err := h.Store.AutoLoginAuthenticator(c.Request.Context()); err == nil {
			errs["auto_login"] = h.T(c).T("validation.auto_login_taken_by", "Title", holder.Title)
		}
	}
	h.renderWeComForm(c, http.StatusUnprocessableEntity, a, formFromInput(in), errs)
	return true
}

// updateDetail is the audit detail of an edit: the saved settings, and for a new corp or API host
// the old and new values with the bindings and sessions that went with the old ones.
func updateDetail(ch auth.Change, secretChanged bool) map[string]any {
	detail := authenticatorDetail(ch.After)
	detail["secret_changed"] = secretChanged
	detail["events_configured"] = ch.After.HasEventSettings()
	detail["event_settings_changed"] = ch.Before.EventTokenSealed != ch.After.EventTokenSealed || ch.Before.EventAESKeySealed != ch.After.EventAESKeySealed
	detail["api_base"] = ch.After.Options.APIBase
	b, a := ch.Before.Options, ch.After.Options
	if b.CorpID != a.CorpID || b.APIBase != a.APIBase {
		detail["corp_id_old"], detail["corp_id_new"] = b.CorpID, a.CorpID
		detail["api_base_old"], detail["api_base_new"] = b.APIBase, a.APIBase
		detail["bindings_deleted"] = ch.BindingsDeleted
	}
	if ch.SessionsEnded > 0 || (ch.Before.Enabled && !ch.After.Enabled) {
		detail["sessions_ended"] = ch.SessionsEnded
	}
	return detail
}

func authenticatorDetail(a models.Authenticator) map[string]any {
	return map[string]any{"type": a.Type, "title": a.Title, "enabled": a.Enabled, "auto_login": a.AutoLogin,
		"corp_id": a.Options.CorpID, "agent_id": a.Options.AgentID, "origin": a.Options.Origin, "auto_signup": a.Options.AutoSignup, "handoff": a.Options.Handoff}
}

func (h *Handlers) renderWeComForm(c *gin.Context, status int, a models.Authenticator, form views.WeComForm, errs views.FieldErrors) {
	d := views.WeComFormData{ID: a.ID, Form: form, Errors: errs, HasSecret: a.SecretSealed != "", HasEvents: a.HasEventSettings()}
	title := "wecom.new_title"
	if a.ID != 0 {
		n, err := h.Store.CountBindings(c.Request.Context(), a.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.Bindings = n
		d.Paste = pasteInfo(a)
		if f := a.Options.VerifyFile; f != nil {
			d.VerifyFile = &views.VerifyFileView{Name: f.Name, Content: f.Content, URL: a.Options.Origin + "/" + f.Name}
		}
		if lt := a.Options.LastTest; lt != nil {
			t := h.T(c)
			d.Test = &views.TestView{Test: *lt, Meaning: codeText(t, lt.Code, "meaning"), Fix: codeText(t, lt.Code, "fix")}
			if lt.Code == 60020 && a.Options.LastSeenIP != "" {
				d.Test.Fix = t.T("wecom.code.60020.fix_ip", "IP", a.Options.LastSeenIP)
			}
		}
	}
	p := h.page(c, title, "authenticators")
	if a.ID != 0 {
		p.Title = a.Title
	}
	h.render(c, status, views.WeComFormPage(p, d))
}

// codeText translates what an errcode means ("meaning") or how to fix it ("fix"), with WeCom's
// English meaning as the fallback for codes outside the table.
func codeText(t views.Translator, code int, kind string) string {
	id := "wecom.code." + strconv.Itoa(code) + "." + kind
	if s := t.T(id); s != id {
		return s
	}
	if kind == "meaning" {
		return wecom.Meaning(code)
	}
	return t.T("wecom.code.other.fix")
}

// pasteInfo is what the WeCom admin console needs from this authenticator (DESIGN.md §5).
func pasteInfo(a models.Authenticator) *views.PasteInfo {
	origin := a.Options.Origin
	x := &views.PasteInfo{CallbackURL: origin + "/auth/wecom/" + a.Name + "/callback", OutboundIP: a.Options.LastSeenIP,
		EventsURL: origin + "/auth/wecom/" + a.Name + "/events", EventsConfigured: a.HasEventSettings()}
	if u, err := url.Parse(origin); err == nil {
		x.TrustedDomain = u.Host // url keeps ":port" only when it was written, and ValidOrigin keeps it as typed
		if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
			x.TrustedDomain = u.Hostname()
		}
	}
	// "/" sends admins to /admin and members to /account once signed in, so one link suits everyone.
	if a.AutoLogin {
		x.HomeDesktop, x.HomeMobile = origin+"/", origin+"/m"
	} else {
		x.HomeDesktop, x.HomeMobile = origin+wecomStartURL(a.Name, "/"), origin+wecomStartURL(a.Name, "/m")
	}
	return x
}

// AuthenticatorTest runs the connection test and shows its result on the edit page.
func (h *Handlers) AuthenticatorTest(c *gin.Context) {
	a, ok := h.loadWeComAuthenticator(c)
	if !ok {
		return
	}
	res, err := h.WeComAdmin.Test(c.Request.Context(), a.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionAuthTest, Target: a.Name, Detail: map[string]any{"ok": res.OK, "errcode": res.Code}})
	c.Redirect(http.StatusSeeOther, "/admin/authenticators/"+strconv.FormatInt(a.ID, 10))
}

// AuthenticatorDelete deletes a WeCom authenticator and its bindings, after confirmation.
func (h *Handlers) AuthenticatorDelete(c *gin.Context) {
	a, ok := h.loadWeComAuthenticator(c)
	if !ok {
		return
	}
	back := "/admin/authenticators/" + strconv.FormatInt(a.ID, 10)
	if c.PostForm("confirm") != "yes" {
		h.flash(c, "error", "flash.delete_unconfirmed")
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	n, ended, err := h.Store.RemoveAuthenticator(c.Request.Context(), a.ID, currentSession(c).ID, h.Now())
	if errors.Is(err, models.ErrLastEnabled) {
		h.flash(c, "error", "flash.last_enabled")
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.Store.DropTokens(c.Request.Context(), a.Options.CorpID, a.Options.AgentID); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionAuthDelete, Target: a.Name, Detail: map[string]any{"title": a.Title, "bindings_deleted": n, "sessions_ended": ended}})
	h.flash(c, "ok", "flash.authenticator_deleted", "Title", a.Title)
	c.Redirect(http.StatusSeeOther, "/admin/authenticators")
}

func (h *Handlers) loadWeComAuthenticator(c *gin.Context) (models.Authenticator, bool) {
	a, ok := h.loadAuthenticator(c)
	if ok && !a.IsWeCom() {
		h.NotFound(c)
		return a, false
	}
	return a, ok
}
