package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/wecom"
)

// recover turns a panic into a 500 page and a log line with the stack, instead of a dropped connection.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if err := recover(); err != nil {
			if err == http.ErrAbortHandler {
				panic(err)
			}
			s.log.Error("panic", "path", c.Request.URL.Path, "err", fmt.Sprint(err))
			c.Abort()
			s.h.ServerError(c)
		}
	}()
	c.Next()
}

// requestLog writes one structured line per request. Query strings are left out: they carry OAuth
// codes and states.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	level := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path), slog.Int("status", c.Writer.Status()),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("ip", c.ClientIP()))
}

// forwardedHTTPS believes "X-Forwarded-Proto: https" only from a trusted proxy (the connection's peer
// is in GATEHOUSE_TRUSTED_PROXIES), so that behind a TLS-terminating proxy cookies are Secure and
// responses carry HSTS even without GATEHOUSE_BASE_URL. Anyone else's X-Forwarded-Proto is ignored.
func (s *Server) forwardedHTTPS(c *gin.Context) {
	r := c.Request
	if r.TLS == nil && forwardedProto(r) == "https" && s.fromTrustedProxy(r) {
		c.Request = auth.WithHTTPS(r)
	}
	c.Next()
}

// forwardedProto is the scheme the first proxy saw: the first value of X-Forwarded-Proto.
func forwardedProto(r *http.Request) string {
	v := r.Header.Get("X-Forwarded-Proto")
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// fromTrustedProxy tells whether the connection's peer address is one of the trusted proxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.trustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// httpsOrigin tells whether the browser sees this origin over https: a configured https base URL, TLS
// on this connection, or a trusted proxy's X-Forwarded-Proto.
func (s *Server) httpsOrigin(r *http.Request) bool {
	return (s.cfg.BaseURL != nil && s.cfg.BaseURL.Scheme == "https") || auth.IsHTTPS(r)
}

// securityHeaders sets the headers of DESIGN.md §6 on every response.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	if s.demoSim != nil && isDemoPath(c.Request.URL.Path) {
		c.Next() // the simulated WeCom pages set their own headers
		return
	}
	if s.httpsOrigin(c.Request) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if strings.HasPrefix(c.Request.URL.Path, "/auth/") {
		h.Set("Referrer-Policy", "no-referrer") // an OAuth code must never leak in a Referer
	} else {
		h.Set("Referrer-Policy", "same-origin")
	}
	c.Next()
}

// demoClient lets a demo visitor act as the WeCom client: with the demo toggle on, the request's
// User-Agent becomes a WeCom one (mobile or desktop, like the real browser).
func (s *Server) demoClient(c *gin.Context) {
	if !s.cfg.Demo {
		c.Next()
		return
	}
	if ck, err := c.Request.Cookie(handlers.DemoWeComCookie); err == nil && ck.Value == "1" && !wecom.IsWeComClient(c.Request.UserAgent()) {
		ua := wecom.UserAgentDesktop
		if wecom.IsMobile(c.Request.UserAgent()) {
			ua = wecom.UserAgentIOS
		}
		c.Request.Header.Set("User-Agent", ua)
	}
	c.Next()
}

// loadSession puts the signed-in user, if any, on the request. A database outage is a 503, not a
// silent sign-out.
func (s *Server) loadSession(c *gin.Context) { s.putSession(c, s.sessions.Current) }

// loadForwardSession is loadSession for forward-auth checks, through the one-second session cache.
func (s *Server) loadForwardSession(c *gin.Context) { s.putSession(c, s.forwardSessions.Current) }

func (s *Server) putSession(c *gin.Context, current func(*http.Request) (models.User, models.Session, bool, error)) {
	if _, err := c.Request.Cookie(auth.SessionCookie); err != nil {
		c.Next() // no cookie, no session: anonymous pages cost no database round trip
		return
	}
	u, sess, ok, err := current(c.Request)
	if err != nil {
		s.h.Unavailable(c, err)
		c.Abort()
		return
	}
	if ok {
		handlers.SetCurrent(c, u, sess)
	}
	c.Next()
}

// forgetSessionsOnWrite empties the forward-auth session cache after every state-changing request
// (sign-out, disabling a user, signing out everywhere, a directory event …), so that a session this
// instance ended is refused at its next check.
func (s *Server) forgetSessionsOnWrite(c *gin.Context) {
	c.Next()
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !strings.HasPrefix(c.Request.URL.Path, "/auth/proxy/") {
			s.forwardSessions.Invalidate()
		}
	}
}

// noStore keeps private pages out of every cache (DESIGN.md §6): any page of a signed-in user, and
// the admin, account and sign-in outcome areas whoever asks (their redirects and refusals included).
// Static assets are served before this and keep their long cache.
func (s *Server) noStore(c *gin.Context) {
	if _, ok := handlers.CurrentUser(c); ok || privatePath(c.Request.URL.Path) {
		c.Header("Cache-Control", "no-store")
	}
	c.Next()
}

// privatePath tells whether a path is in the admin, account or /auth/ areas.
func privatePath(p string) bool {
	for _, prefix := range []string{"/admin", "/account", "/m"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return strings.HasPrefix(p, "/auth/")
}

// requireUser sends anonymous visitors to the sign-in page, coming back here afterwards. Inside the
// WeCom client with auto login configured, they go straight to WeCom instead.
func (s *Server) requireUser(c *gin.Context) {
	if _, ok := handlers.CurrentUser(c); ok {
		c.Next()
		return
	}
	if c.Request.Method == http.MethodGet {
		if target, ok := s.h.AutoLoginTarget(c); ok {
			c.Redirect(http.StatusSeeOther, target)
			c.Abort()
			return
		}
		c.Redirect(http.StatusSeeOther, "/signin?redirect="+url.QueryEscape(c.Request.URL.RequestURI()))
	} else {
		c.Redirect(http.StatusSeeOther, "/signin")
	}
	c.Abort()
}

// requireAdmin lets only admins through: anonymous visitors sign in first, members get a 403 page.
func (s *Server) requireAdmin(c *gin.Context) {
	u, ok := handlers.CurrentUser(c)
	if !ok {
		s.requireUser(c)
		return
	}
	if !u.IsAdmin {
		s.h.Forbidden(c)
		c.Abort()
		return
	}
	c.Next()
}

func (s *Server) healthz(c *gin.Context) { c.String(http.StatusOK, "ok\n") }

// readyz answers 200 while the database answers within a second.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := contextWithTimeout(c, time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		c.String(http.StatusServiceUnavailable, "database unavailable\n")
		return
	}
	c.String(http.StatusOK, "ok\n")
}

// forwardSessionTTL is how long a forward-auth check may trust a cached session: half of DESIGN.md
// §8's one second in which other instances must refuse a revoked session.
const forwardSessionTTL = 500 * time.Millisecond
