package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
)

// Dashboard shows counts, recent sign-ins and configuration warnings.
func (h *Handlers) Dashboard(c *gin.Context) {
	stats, err := h.Store.DashboardStats(c.Request.Context(), h.Now().UTC())
	if err != nil {
		h.fail(c, err)
		return
	}
	warnings, err := h.warnings(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.DashboardData{DashboardStats: stats, Warnings: warnings}
	if d.DirectorySweep, err = h.directorySweep(c.Request.Context()); err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.DashboardPage(h.page(c, "dashboard.title", "dashboard"), d))
}

// warnings lists configuration problems an administrator should fix, each with its fix.
func (h *Handlers) warnings(c *gin.Context) ([]string, error) {
	t := h.T(c)
	list, err := h.Store.Authenticators(c.Request.Context())
	if err != nil {
		return nil, err
	}
	var out []string
	autoLogin := 0
	passwordEnabled := false
	for _, a := range list {
		if a.Name == models.PasswordAuthenticatorName {
			passwordEnabled = a.Enabled
		}
		if !a.IsWeCom() || !a.Enabled {
			continue
		}
		if a.AutoLogin {
			autoLogin++
		}
		out = append(out, h.wecomWarnings(t, a)...)
	}
	if autoLogin > 1 {
		out = append(out, t.T("warning.auto_login_twice"))
	}
	admins, err := h.Store.CountPasswordAdmins(c.Request.Context())
	if err != nil {
		return nil, err
	}
	switch {
	case admins == 0:
		out = append(out, t.T("warning.no_password_admin"))
	case !passwordEnabled:
		out = append(out, t.T("warning.password_signin_disabled"))
	}
	if h.PostgreSQL && h.SecretKeyFromFile {
		out = append(out, t.T("warning.secret_key_in_data_dir"))
	}
	proxy, err := h.proxyWarnings(c, t)
	return append(out, proxy...), err
}

// wecomWarnings are the problems of one enabled WeCom authenticator.
func (h *Handlers) wecomWarnings(t views.Translator, a models.Authenticator) []string {
	var out []string
	if auth.InsecureOrigin(a.Options.Origin) {
		out = append(out, t.T("warning.origin_not_https", "Title", a.Title))
	}
	if u, err := url.Parse(a.Options.Origin); err == nil && h.BaseURL != nil && !strings.EqualFold(u.Host, h.BaseURL.Host) {
		out = append(out, t.T("warning.callback_host", "Title", a.Title, "Host", u.Host, "Base", h.BaseURL.Host))
	}
	if lt := a.Options.LastTest; lt != nil && !lt.OK {
		out = append(out, t.T("warning.test_failed", "Title", a.Title, "Code", strconv.Itoa(lt.Code),
			"Meaning", codeText(t, lt.Code, "meaning"), "Fix", codeText(t, lt.Code, "fix")))
	}
	if h.breakerOpen(a) {
		out = append(out, t.T("warning.wecom_breaker_open", "Title", a.Title, "Name", a.Name))
	}
	if !h.Demo && h.IsDemoAuthenticator != nil && h.IsDemoAuthenticator(a) {
		out = append(out, t.T("warning.demo_authenticator", "Title", a.Title))
	}
	return out
}

// breakerOpen tells whether sign-ins with the authenticator are failing fast because its WeCom keeps
// failing (its API host and corp's circuit breaker is open).
func (h *Handlers) breakerOpen(a models.Authenticator) bool {
	if h.Breakers == nil {
		return false
	}
	base := a.Options.APIBase
	if base == "" {
		base = h.WeCom.Bases().API
	}
	return h.Breakers.BreakerOpen(base, a.Options.CorpID)
}

// AuthenticatorList lists authenticators in sign-in order.
func (h *Handlers) AuthenticatorList(c *gin.Context) {
	list, err := h.Store.Authenticators(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.AuthenticatorListPage(h.page(c, "authenticators.title", "authenticators"), views.AuthenticatorListData{Authenticators: list}))
}

// AuthenticatorToggle enables or disables an authenticator; the last enabled one stays enabled.
func (h *Handlers) AuthenticatorToggle(c *gin.Context) {
	a, ok := h.loadAuthenticator(c)
	if !ok {
		return
	}
	a.Enabled = !a.Enabled
	ended, err := h.Store.ToggleAuthenticator(c.Request.Context(), &a, currentSession(c).ID, h.Now())
	switch {
	case errors.Is(err, models.ErrLastEnabled):
		h.flash(c, "error", "flash.last_enabled")
	case errors.Is(err, models.ErrAutoLoginTaken):
		h.flash(c, "error", "flash.auto_login_taken")
	case err != nil:
		h.fail(c, err)
		return
	default:
		detail := map[string]any{"enabled": a.Enabled}
		if !a.Enabled {
			detail["sessions_ended"] = ended
		}
		h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: a.Name, Detail: detail})
		if a.Enabled {
			h.flash(c, "ok", "flash.authenticator_enabled", "Title", a.Title)
		} else {
			h.flash(c, "ok", "flash.authenticator_disabled", "Title", a.Title)
		}
	}
	c.Redirect(http.StatusSeeOther, "/admin/authenticators")
}

// AuthenticatorMove moves an authenticator up or down in sign-in order.
func (h *Handlers) AuthenticatorMove(c *gin.Context) {
	a, ok := h.loadAuthenticator(c)
	if !ok {
		return
	}
	delta := 1
	if c.PostForm("direction") == "up" {
		delta = -1
	}
	if err := h.Store.MoveAuthenticator(c.Request.Context(), a.ID, delta); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: a.Name, Detail: map[string]any{"moved": c.PostForm("direction")}})
	c.Redirect(http.StatusSeeOther, "/admin/authenticators")
}

func (h *Handlers) loadAuthenticator(c *gin.Context) (models.Authenticator, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return models.Authenticator{}, false
	}
	a, err := h.Store.AuthenticatorByID(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return a, false
	}
	return a, true
}

const auditPerPage = 50

// Audit lists audit events with filters, newest first, a page at a time (?before=<id> of the last
// row seen). A filter that does not parse is a field error on the page, not a 500.
func (h *Handlers) Audit(c *gin.Context) {
	f, before, errs := h.auditFilter(c)
	d := views.AuditData{Filter: auditForm(c), Errors: errs, ExportURL: "/admin/audit/export?" + auditQuery(c)}
	if len(errs) > 0 {
		h.render(c, http.StatusUnprocessableEntity, views.AuditPage(h.page(c, "audit.title", "audit"), d))
		return
	}
	res, err := h.Store.ListAudit(c.Request.Context(), f, before, auditPerPage)
	if err != nil {
		h.fail(c, err)
		return
	}
	d.Events = res.Events
	if before > 0 {
		d.FirstURL = "/admin/audit?" + auditQuery(c)
	}
	if res.Before > 0 {
		d.NextURL = "/admin/audit?" + auditQuery(c) + "&before=" + strconv.FormatInt(res.Before, 10)
	}
	h.render(c, http.StatusOK, views.AuditPage(h.page(c, "audit.title", "audit"), d))
}

// AuditExport streams the filtered audit log as CSV (UTF-8 with BOM, so spreadsheets read it right),
// a batch at a time, whatever its size.
func (h *Handlers) AuditExport(c *gin.Context) {
	f, _, errs := h.auditFilter(c)
	if len(errs) > 0 {
		h.render(c, http.StatusUnprocessableEntity, views.AuditPage(h.page(c, "audit.title", "audit"), views.AuditData{Filter: auditForm(c), Errors: errs}))
		return
	}
	name := "gatehouse-audit-" + h.Now().UTC().Format("20060102-150405") + ".csv"
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Status(http.StatusOK)
	w := auth.NewCSVWriter(c.Writer)
	if err := w.Write("id", "at", "action", "actor", "target", "authenticator", "outcome", "ip", "detail"); err != nil {
		return
	}
	err := h.Store.EachAudit(c.Request.Context(), f, func(e models.AuditRow) error {
		return w.Write(strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), e.Action, e.ActorUsername,
			e.Target, e.Authenticator, e.Outcome, e.IP, e.Detail)
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		// The header is sent: the download ends short, and the log says why.
		h.Log.Error("audit export", "err", err)
	}
}

// auditFields are the query parameters of the audit filter, in the order links keep them.
var auditFields = []string{"action", "actor", "target", "authenticator", "outcome", "ip", "from", "to"}

// auditForm is the filter as typed, for the form.
func auditForm(c *gin.Context) views.AuditForm {
	v := map[string]string{}
	for _, k := range auditFields {
		v[k] = strings.TrimSpace(c.Query(k))
	}
	return views.AuditForm{Action: v["action"], Actor: v["actor"], Target: v["target"], Authenticator: v["authenticator"],
		Outcome: v["outcome"], IP: v["ip"], From: v["from"], To: v["to"]}
}

// auditQuery is the filter's query string (without the cursor), for the export and paging links.
func auditQuery(c *gin.Context) string {
	q := url.Values{}
	for _, k := range auditFields {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// auditFilter parses the filter and cursor; times are UTC, as the log shows them, and a bare date
// in "to" includes that whole day.
func (h *Handlers) auditFilter(c *gin.Context) (models.AuditFilter, int64, views.FieldErrors) {
	t := h.T(c)
	in := auditForm(c)
	f := models.AuditFilter{Action: in.Action, Actor: in.Actor, Target: in.Target, Authenticator: in.Authenticator, Outcome: in.Outcome, IP: in.IP}
	errs := views.FieldErrors{}
	var ok bool
	if f.From, ok = parseAuditTime(in.From, false); !ok {
		errs["from"] = t.T("audit.bad_time")
	}
	if f.To, ok = parseAuditTime(in.To, true); !ok {
		errs["to"] = t.T("audit.bad_time")
	}
	var before int64
	if s := c.Query("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			errs["before"] = t.T("audit.bad_cursor")
		}
		before = n
	}
	return f, before, errs
}

// parseAuditTime reads "2006-01-02", "2006-01-02T15:04" (a datetime-local input) or RFC 3339; empty
// is unbounded. A bare date as an upper bound means the end of that day.
func parseAuditTime(s string, upper bool) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if upper {
			t = t.AddDate(0, 0, 1)
		}
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
