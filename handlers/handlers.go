// Package handlers turns HTTP requests into calls on the store and the auth rules and renders views.
// A handler parses its input, calls one service function and renders one view or redirects.
package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/auth"
	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/static"
	"gatehouse/views"
	"gatehouse/wecom"
)

// SigninRecorder counts sign-ins by method and outcome (Prometheus in production).
type SigninRecorder interface {
	Signin(method, outcome string)
}

// BreakerStatus tells whether calls to a WeCom API host and corp are paused after repeated failures.
type BreakerStatus interface {
	BreakerOpen(apiBase, corpID string) bool
}

// Deps are what the handlers need, built by the web package.
type Deps struct {
	Store      *models.Store
	Sessions   *auth.Sessions
	Passwords  *auth.Passwords
	Accounts   *auth.Accounts
	WeCom      *auth.WeCom
	WeComAdmin *auth.WeComAuthenticators
	Breakers   BreakerStatus
	States     *auth.States
	// BaseURL is the configured public origin (GATEHOUSE_BASE_URL), or nil.
	BaseURL *url.URL
	Catalog *views.Catalog
	Assets  *static.Assets
	Metrics SigninRecorder
	Log     *slog.Logger
	Now     func() time.Time
	Demo    bool
	// PostgreSQL tells that the database is PostgreSQL; SecretKeyFromFile that the secret key lives in
	// the data dir's secret.key (both for the dashboard's warnings).
	PostgreSQL, SecretKeyFromFile bool
	// Apps administers applications; AppSecrets seals a just-issued client secret for the page that shows it once.
	Apps       *apps.Apps
	AppSecrets *apps.Shown
	// OIDC is the OpenID Connect provider (DESIGN.md §10); nil when GATEHOUSE_BASE_URL is unset.
	OIDC *apps.Provider
	// IsDemoAuthenticator tells whether an authenticator is the demo's, still pointing at the simulator.
	IsDemoAuthenticator func(models.Authenticator) bool
	// DirectorySync is how often the directory sweep runs (0: off), for the dashboard.
	DirectorySync time.Duration
	// Events receives WeCom's event callbacks (DESIGN.md §11).
	Events *directory.Events
	// Forward decides forward-auth checks and which rd a sign-in may return to (DESIGN.md §10).
	Forward        *apps.Forward
	ForwardMetrics ForwardRecorder
	// CookieDomain is GATEHOUSE_COOKIE_DOMAIN ("" when unset), for the dashboard's warnings.
	CookieDomain string
}

// Handlers holds the HTTP handlers.
type Handlers struct {
	Deps
	buffers sync.Pool // *bytes.Buffer for rendering pages
}

// New builds the handlers.
func New(d Deps) *Handlers {
	return &Handlers{Deps: d, buffers: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// Context keys set by the middleware.
const (
	ctxUser       = "gatehouse.user"
	ctxSession    = "gatehouse.session"
	ctxTranslator = "gatehouse.translator"
)

// SetCurrent records the signed-in user and session for the request (middleware).
func SetCurrent(c *gin.Context, u models.User, s models.Session) {
	c.Set(ctxUser, u)
	c.Set(ctxSession, s)
}

// CurrentUser returns the signed-in user, if any.
func CurrentUser(c *gin.Context) (models.User, bool) {
	v, ok := c.Get(ctxUser)
	if !ok {
		return models.User{}, false
	}
	u, ok := v.(models.User)
	return u, ok
}

func currentSession(c *gin.Context) models.Session {
	v, _ := c.Get(ctxSession)
	s, _ := v.(models.Session)
	return s
}

// langCookie remembers the language chosen in the footer.
const langCookie = "gatehouse_lang"

// T returns the request's translator, chosen by the language cookie, else Accept-Language.
func (h *Handlers) T(c *gin.Context) views.Translator {
	if v, ok := c.Get(ctxTranslator); ok {
		return v.(views.Translator)
	}
	t := h.translator(c.Request)
	c.Set(ctxTranslator, t)
	return t
}

func (h *Handlers) translator(r *http.Request) views.Translator {
	var lang string
	if ck, err := r.Cookie(langCookie); err == nil {
		lang = ck.Value
	}
	return h.Catalog.Translator(h.Catalog.Match(lang, r.Header.Get("Accept-Language")))
}

// CrossOriginDenied answers a refused cross-origin POST (http.CrossOriginProtection) with a page.
func (h *Handlers) CrossOriginDenied(w http.ResponseWriter, r *http.Request) {
	t := h.translator(r)
	p := views.Page{T: t, Title: t.T("error.cross_origin"), Path: "/", Asset: h.Assets.URL}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	views.ErrorPage(p, views.ErrorData{Icon: "error", Heading: t.T("error.cross_origin"), Message: t.T("error.cross_origin_text"),
		Actions: []views.Link{{Label: t.T("error.home"), URL: "/", Primary: true}}}).Render(r.Context(), w)
}

// returnPath is where the language switch returns to: this page, except under /auth/, whose query
// holds an OAuth code and state that must never be written into a page (and cannot be used twice).
func returnPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/auth/") {
		return "/signin"
	}
	return r.URL.RequestURI()
}

// page builds the layout data of a page whose title is the translation of titleID.
func (h *Handlers) page(c *gin.Context, titleID string, nav string) views.Page {
	t := h.T(c)
	p := views.Page{T: t, Title: t.T(titleID), Path: returnPath(c.Request), Asset: h.Assets.URL, Nav: nav, Flash: h.takeFlash(c)}
	if u, ok := CurrentUser(c); ok {
		p.User = &u
	}
	if h.Demo {
		p.Demo = &views.Demo{AsWeCom: demoAsWeCom(c.Request)}
	}
	return p
}

// render writes a templ component with a status code. The page is rendered into a buffer first, so
// it goes out in one write with a Content-Length (templ would otherwise flush, and the response would
// be chunked over several writes), and a rendering error still yields a clean error page.
func (h *Handlers) render(c *gin.Context, status int, comp templ.Component) {
	buf := h.buffers.Get().(*bytes.Buffer)
	defer h.buffers.Put(buf)
	buf.Reset()
	// The page renders into memory: a request past its deadline (the database did not answer in
	// time) still gets its 503 page rather than templ's "context deadline exceeded" as a 500.
	if err := comp.Render(context.WithoutCancel(c.Request.Context()), buf); err != nil {
		h.Log.Error("render page", "path", c.Request.URL.Path, "err", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage renders a plain error page with a translated heading and message.
func (h *Handlers) errorPage(c *gin.Context, status int, headingID, messageID string) {
	t := h.T(c)
	p := h.page(c, headingID, "")
	h.render(c, status, views.ErrorPage(p, views.ErrorData{
		Icon: "error", Heading: t.T(headingID), Message: t.T(messageID),
		Actions: []views.Link{{Label: t.T("error.home"), URL: "/", Primary: true}},
	}))
}

// NotFound answers 404 with a translated page.
func (h *Handlers) NotFound(c *gin.Context) {
	h.errorPage(c, http.StatusNotFound, "error.not_found", "error.not_found_text")
}

// Forbidden answers 403 with a translated page.
func (h *Handlers) Forbidden(c *gin.Context) {
	h.errorPage(c, http.StatusForbidden, "error.forbidden", "error.forbidden_text")
}

// fail maps an error to a page: missing → 404, database unreachable → 503, anything else → 500 and a
// log line (the person sees no internals).
func (h *Handlers) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		h.NotFound(c)
	case models.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
		h.Unavailable(c, err)
	default:
		h.Log.Error("request failed", "path", c.Request.URL.Path, "err", err)
		h.ServerError(c)
	}
	c.Abort()
}

// flashCookie carries a one-time message across a redirect: kind and message id, never user data.
const flashCookie = "gatehouse_flash"

// flash sets a message (a translation id with its arguments) to show on the next page.
func (h *Handlers) flash(c *gin.Context, kind, id string, args ...string) {
	v := url.Values{"k": {kind}, "m": {id}}
	for i := 0; i+1 < len(args); i += 2 {
		v.Set("a."+args[i], args[i+1])
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: v.Encode(), Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.https(c)})
}

func (h *Handlers) takeFlash(c *gin.Context) *views.Flash {
	raw, err := c.Cookie(flashCookie)
	if err != nil || raw == "" {
		return nil
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.https(c)})
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil
	}
	kind := v.Get("k")
	if kind != "ok" && kind != "error" && kind != "info" {
		return nil
	}
	var args []any
	for k, vals := range v {
		if len(k) > 2 && k[:2] == "a." {
			args = append(args, k[2:], vals[0])
		}
	}
	// Only ids in the "flash." namespace are honoured, so a crafted cookie cannot show arbitrary text.
	id := v.Get("m")
	if len(id) < 6 || id[:6] != "flash." {
		return nil
	}
	return &views.Flash{Kind: kind, Message: h.T(c).T(id, args...)}
}

func (h *Handlers) audit(c *gin.Context, e models.Event) {
	if u, ok := CurrentUser(c); ok && e.ActorUserID == 0 {
		e.ActorUserID = u.ID
	}
	e.IP = c.ClientIP()
	res, err := h.Store.Record(c.Request.Context(), e)
	if err != nil {
		h.Log.Error("write audit event", "action", e.Action, "err", err)
	}
	if res != models.AuditWritten {
		h.auditSuppressed(e.Action)
	}
}

// auditSuppressedRecorder counts audit rows the anonymous cap left out (Prometheus in production).
type auditSuppressedRecorder interface {
	AuditSuppressed(action string)
}

// auditSuppressed counts one refusal whose audit row was left out, when the metrics can count it.
func (h *Handlers) auditSuppressed(action string) {
	if m, ok := h.Metrics.(auditSuppressedRecorder); ok {
		m.AuditSuppressed(action)
	}
}

// pathID parses a numeric path parameter; anything else is a 404.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	return id, err == nil && id > 0
}

// pageNumber reads ?page=, defaulting to 1.
func pageNumber(c *gin.Context) int {
	n, err := strconv.Atoi(c.Query("page"))
	if err != nil || n < 1 || n > 100000 {
		return 1
	}
	return n
}

// ServerError answers 500 with a translated page.
func (h *Handlers) ServerError(c *gin.Context) {
	h.errorPage(c, http.StatusInternalServerError, "error.internal", "error.internal_text")
}

// TooLarge answers 413 when a request body is over its route's limit.
func (h *Handlers) TooLarge(c *gin.Context) {
	if h.eventTooLarge(c) {
		return
	}
	h.errorPage(c, http.StatusRequestEntityTooLarge, "error.too_large", "error.too_large_text")
}

// UnsupportedMediaType answers 415 to a multipart/form-data body on a route that takes no upload.
func (h *Handlers) UnsupportedMediaType(c *gin.Context) {
	h.errorPage(c, http.StatusUnsupportedMediaType, "error.unsupported_media", "error.unsupported_media_text")
}

// BadRequest answers 400 when a request body cannot be read (the client went away, a broken chunk).
func (h *Handlers) BadRequest(c *gin.Context) {
	h.errorPage(c, http.StatusBadRequest, "error.bad_request", "error.bad_request_text")
}

// Unavailable answers 503 when the database cannot be reached.
func (h *Handlers) Unavailable(c *gin.Context, err error) {
	h.Log.Warn("database unavailable", "path", c.Request.URL.Path, "err", err)
	c.Header("Retry-After", "5")
	h.errorPage(c, http.StatusServiceUnavailable, "error.unavailable", "error.unavailable_text")
}

// AutoLoginTarget is where an anonymous request for a page that needs sign-in goes instead of the
// sign-in page: inside the WeCom client, with an enabled auto-login authenticator and no loop guard,
// straight to its start. After a failed round (the guard is set) it is the sign-in page with the reason.
func (h *Handlers) AutoLoginTarget(c *gin.Context) (string, bool) {
	if !wecom.IsWeComClient(c.Request.UserAgent()) {
		return "", false
	}
	path := c.Request.URL.RequestURI()
	if outcome, guarded := h.States.Guard(c.Request); guarded {
		u := "/signin?redirect=" + url.QueryEscape(path)
		if outcome != "pending" {
			u += "&reason=" + url.QueryEscape(outcome)
		}
		return u, true
	}
	a, err := h.Store.AutoLoginAuthenticator(c.Request.Context())
	if err != nil {
		return "", false // none configured, or the database is down: the sign-in page will tell
	}
	h.States.SetGuard(c.Writer, c.Request, "pending")
	return wecomStartURL(a.Name, path) + "&auto=1", true
}

// https tells whether this browser reached Gatehouse over https (the public origin is https, the
// connection is TLS, or a trusted proxy said so), so that every cookie Gatehouse sets is Secure there.
func (h *Handlers) https(c *gin.Context) bool {
	return (h.BaseURL != nil && h.BaseURL.Scheme == "https") || auth.IsHTTPS(c.Request)
}
