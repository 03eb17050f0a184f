package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/views"
)

// appSecretCookie carries a just-issued client secret, sealed, from the create or …/secret POST to the
// one page that shows it (path /admin/apps/<id>, two minutes, read once).
const appSecretCookie = "gatehouse_app_secret"

// AppList lists the applications.
func (h *Handlers) AppList(c *gin.Context) {
	list, err := h.Store.Apps(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.AppListPage(h.page(c, "apps.title", "apps"), views.AppListData{Apps: list, ProviderOff: h.BaseURL == nil}))
}

// AppNew shows the form for a new application of the type asked for.
func (h *Handlers) AppNew(c *gin.Context) {
	typ := c.Query("type")
	if typ != models.AppTypeOIDC && typ != models.AppTypeProxy {
		h.NotFound(c)
		return
	}
	form := views.AppForm{Type: typ, Enabled: true, Access: models.AccessEveryone}
	h.renderAppPage(c, http.StatusOK, models.App{Type: typ}, form, nil, "")
}

// appInput reads the application form.
func appInput(c *gin.Context) apps.Input {
	return apps.Input{
		Type: c.PostForm("type"), Name: c.PostForm("name"), Title: c.PostForm("title"),
		Enabled: c.PostForm("enabled") == "on", Access: c.PostForm("access"), Groups: c.PostFormArray("groups"),
		RedirectURIs: c.PostForm("redirect_uris"), PostLogoutRedirectURIs: c.PostForm("post_logout_redirect_uris"),
		Public: c.PostForm("public") == "on", Domains: c.PostForm("domains"),
	}
}

func appFormFromInput(in apps.Input) views.AppForm {
	return views.AppForm{Type: in.Type, Name: in.Name, Title: in.Title, Enabled: in.Enabled, Access: in.Access, Groups: in.Groups,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, Public: in.Public, Domains: in.Domains}
}

func appFormFromApp(a models.App) views.AppForm {
	return views.AppForm{Type: a.Type, Name: a.Name, Title: a.Title, Enabled: a.Enabled, Access: a.Access, Groups: a.Groups,
		RedirectURIs: joinLines(a.RedirectURIs), PostLogoutRedirectURIs: joinLines(a.PostLogoutRedirectURIs), Public: a.Public, Domains: joinLines(a.Domains)}
}

func joinLines(l []string) string { return strings.Join(l, "\n") }

// AppCreate adds an application; a confidential client's secret is shown once on the page that follows.
func (h *Handlers) AppCreate(c *gin.Context) {
	in := appInput(c)
	if in.Type != models.AppTypeOIDC && in.Type != models.AppTypeProxy {
		h.errorPage(c, http.StatusUnprocessableEntity, "apps.bad_type", "apps.bad_type_text")
		return
	}
	saved, err := h.Apps.Create(c.Request.Context(), in)
	if h.appFormFailed(c, models.App{Type: in.Type}, in, err) {
		return
	}
	a := saved.App
	h.audit(c, models.Event{Action: apps.ActionCreate, Target: a.Name, Detail: appDetail(a)})
	h.showSecretOnce(c, a.ID, saved.Secret)
	h.flash(c, "ok", "flash.app_created", "Title", a.Title)
	c.Redirect(http.StatusSeeOther, appPath(a.ID))
}

// AppEdit shows an application: what to configure in the app or the proxy, and its form.
func (h *Handlers) AppEdit(c *gin.Context) {
	a, ok := h.loadApp(c)
	if !ok {
		return
	}
	h.renderAppPage(c, http.StatusOK, a, appFormFromApp(a), nil, h.takeShownSecret(c, a.ID))
}

// AppUpdate saves an application; its type never changes.
func (h *Handlers) AppUpdate(c *gin.Context) {
	a, ok := h.loadApp(c)
	if !ok {
		return
	}
	in := appInput(c)
	in.Type = a.Type
	saved, err := h.Apps.Update(c.Request.Context(), a.ID, in)
	if h.appFormFailed(c, a, in, err) {
		return
	}
	detail := appDetail(saved.App)
	detail["secret_issued"] = saved.Secret != ""
	h.audit(c, models.Event{Action: apps.ActionUpdate, Target: saved.App.Name, Detail: detail})
	h.showSecretOnce(c, a.ID, saved.Secret)
	h.flash(c, "ok", "flash.app_saved", "Title", saved.App.Title)
	c.Redirect(http.StatusSeeOther, appPath(a.ID))
}

// AppToggle enables or disables an application.
func (h *Handlers) AppToggle(c *gin.Context) {
	a, ok := h.loadApp(c)
	if !ok {
		return
	}
	a, err := h.Apps.SetEnabled(c.Request.Context(), a.ID, !a.Enabled)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: apps.ActionUpdate, Target: a.Name, Detail: map[string]any{"enabled": a.Enabled}})
	if a.Enabled {
		h.flash(c, "ok", "flash.app_enabled", "Title", a.Title)
	} else {
		h.flash(c, "ok", "flash.app_disabled", "Title", a.Title)
	}
	c.Redirect(http.StatusSeeOther, "/admin/apps")
}

// AppDelete asks for confirmation on a page of its own, then deletes the application and what hangs
// off it.
func (h *Handlers) AppDelete(c *gin.Context) {
	a, ok := h.loadApp(c)
	if !ok {
		return
	}
	if c.PostForm("confirm") != "yes" {
		p := h.page(c, "apps.delete_title", "apps")
		h.render(c, http.StatusOK, views.AppDeleteConfirmPage(p, a))
		return
	}
	if err := h.Apps.Delete(c.Request.Context(), a.ID); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: apps.ActionDelete, Target: a.Name, Detail: map[string]any{"type": a.Type, "title": a.Title}})
	h.flash(c, "ok", "flash.app_deleted", "Title", a.Title)
	c.Redirect(http.StatusSeeOther, "/admin/apps")
}

// AppSecret issues a new client secret to a confidential OIDC client; the old one stops working, and
// the new one is shown once on the page that follows.
func (h *Handlers) AppSecret(c *gin.Context) {
	a, ok := h.loadApp(c)
	if !ok {
		return
	}
	a, secret, err := h.Apps.NewSecret(c.Request.Context(), a.ID)
	if errors.Is(err, apps.ErrNoSecret) {
		h.flash(c, "error", "flash.app_no_secret")
		c.Redirect(http.StatusSeeOther, appPath(a.ID))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: apps.ActionSecret, Target: a.Name, Detail: map[string]any{"client_id": a.ClientID}})
	h.showSecretOnce(c, a.ID, secret)
	h.flash(c, "ok", "flash.app_secret_issued", "Title", a.Title)
	c.Redirect(http.StatusSeeOther, appPath(a.ID))
}

func appPath(id int64) string { return "/admin/apps/" + strconv.FormatInt(id, 10) }

// appDetail is an app's audit detail: its settings, never a secret.
func appDetail(a models.App) map[string]any {
	d := map[string]any{"type": a.Type, "title": a.Title, "enabled": a.Enabled, "access": a.Access, "groups": a.Groups, "client_id": a.ClientID}
	if a.IsOIDC() {
		d["public"], d["redirect_uris"], d["post_logout_redirect_uris"] = a.Public, a.RedirectURIs, a.PostLogoutRedirectURIs
	} else {
		d["domains"] = a.Domains
	}
	return d
}

// showSecretOnce hands a just-issued secret, sealed, to the app's page that follows the redirect.
func (h *Handlers) showSecretOnce(c *gin.Context, id int64, secret string) {
	if secret == "" {
		return
	}
	sealed, err := h.AppSecrets.Seal(id, secret)
	if err != nil {
		h.Log.Error("seal the new client secret for its page", "app", id, "err", err) // the secret itself never
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: appSecretCookie, Value: sealed, Path: appPath(id), MaxAge: int(apps.ShownLifetime.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.https(c)})
}

// takeShownSecret returns the secret just issued to app id, once: the cookie goes with this page.
func (h *Handlers) takeShownSecret(c *gin.Context, id int64) string {
	raw, err := c.Cookie(appSecretCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: appSecretCookie, Value: "", Path: appPath(id), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.https(c)})
	secret, _ := h.AppSecrets.Open(id, raw)
	return secret
}

// appFormFailed re-renders the page with the errors beside the fields (input kept), or fails the
// request; it returns false when err is nil.
func (h *Handlers) appFormFailed(c *gin.Context, a models.App, in apps.Input, err error) bool {
	if err == nil {
		return false
	}
	var bad apps.Invalid
	if !errors.As(err, &bad) {
		h.fail(c, err)
		return true
	}
	t := h.T(c)
	errs := views.FieldErrors{}
	for field, p := range bad {
		args := make([]any, len(p.Args))
		for i, v := range p.Args {
			args[i] = v
		}
		errs[field] = t.T("apps.v."+p.Code, args...)
	}
	h.renderAppPage(c, http.StatusUnprocessableEntity, a, appFormFromInput(in), errs, "")
	return true
}

// renderAppPage renders the new-app form (a.ID == 0) or an app's page with what to configure.
func (h *Handlers) renderAppPage(c *gin.Context, status int, a models.App, form views.AppForm, errs views.FieldErrors, secret string) {
	groups, err := h.Store.Groups(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.AppPageData{App: a, Form: form, Errors: errs, Groups: groups, Secret: secret, ProviderOff: h.BaseURL == nil, Scopes: apps.Scopes}
	title := "apps.new_" + a.Type
	if a.ID != 0 {
		origin := h.defaultOrigin(c)
		d.OriginGuessed = h.BaseURL == nil
		var snippets []apps.Snippet
		if a.IsOIDC() && h.BaseURL != nil {
			d.Issuer = apps.Issuer(origin)
			d.Discovery = apps.DiscoveryURL(d.Issuer)
			snippets = apps.OIDCSnippets(d.Issuer, a)
		}
		if a.IsProxy() {
			d.Origin = origin
			snippets = apps.ProxySnippets(origin, a)
		}
		for _, s := range snippets {
			d.Snippets = append(d.Snippets, views.SnippetView{ID: s.ID, Lang: s.Lang, Text: s.Text})
		}
	}
	p := h.page(c, title, "apps")
	if a.ID != 0 {
		p.Title = a.Title
	}
	h.render(c, status, views.AppPage(p, d))
}

func (h *Handlers) loadApp(c *gin.Context) (models.App, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return models.App{}, false
	}
	a, err := h.Store.App(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return a, false
	}
	return a, true
}
