package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/handlers"
)

// routes is every route of Gatehouse, its guard and its handler, in one table (DESIGN.md §5).
func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.RedirectTrailingSlash = true // "/admin/users/" → 301 "/admin/users", which is then guarded
	r.RedirectFixedPath = false    // never serve a case- or dot-variant of a path: 404 instead
	r.HandleMethodNotAllowed = false
	if err := r.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		panic(err) // validated by LoadConfig
	}
	// Upload routes (multipart/form-data, larger bodies) are granted one by one below with uploads.POST.
	uploads := uploadRoutes{}
	r.Use(s.recover, s.requestLog, s.metrics.middleware, s.forwardedHTTPS, s.securityHeaders, s.limitBody(uploads), s.forgetSessionsOnWrite)
	h := s.h

	// Operations and assets never touch sessions, so probes answer whatever cookies they carry.
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.cfg.MetricsToken != "" { // else /metrics is 404 here (GATEHOUSE_METRICS_ADDR may serve it)
		r.GET("/metrics", gin.WrapH(metricsGuard(s.cfg.MetricsToken, s.metrics.Handler())))
	}
	r.GET("/static/*file", gin.WrapH(s.assets.Handler()))

	// Forward-auth for reverse proxies (DESIGN.md §10), with its own session loader (a one-second
	// cache, see auth.SessionCache). nginx's auth_request repeats the original method, so every method
	// gets the same answer; the original method is read from a header.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		r.Handle(m, "/auth/proxy/forward", s.loadForwardSession, s.noStore, h.ForwardAuth)
		r.Handle(m, "/auth/proxy/nginx", s.loadForwardSession, s.noStore, h.ForwardAuthNginx)
	}

	// The OpenID Connect provider (DESIGN.md §10), only with GATEHOUSE_BASE_URL (its issuer's origin).
	// The library serves the protocol; Gatehouse adds the authorize checks. These endpoints never read
	// the Gatehouse session (apps' servers call most of them), so they come before it.
	if h.OIDC != nil {
		oidc := r.Group("/oidc")
		for _, p := range []string{"/.well-known/openid-configuration", "/keys"} {
			oidc.GET(p, h.OIDCEndpoint)
			oidc.OPTIONS(p, h.OIDCEndpoint)
		}
		oidc.GET("/authorize", h.OIDCAuthorize)
		oidc.POST("/authorize", h.OIDCAuthorize)
		for _, p := range []string{"/oauth/token", "/revoke", "/oauth/introspect"} {
			oidc.POST(p, h.OIDCEndpoint)
			oidc.OPTIONS(p, h.OIDCEndpoint)
		}
		oidc.GET("/userinfo", h.OIDCEndpoint)
		oidc.POST("/userinfo", h.OIDCEndpoint)
		oidc.OPTIONS("/userinfo", h.OIDCEndpoint)
	}

	// Everything below knows who is signed in. (Gin applies Use to the routes registered after it.)
	r.Use(s.demoClient, s.loadSession, s.noStore)

	r.GET("/", h.Home)
	// WeCom's trusted-domain check fetches WW_verify_<code>.txt from the root; the handler serves only
	// a stored file of that exact name and answers every other path here with
	// the same 404 as NoRoute (after loadSession, so a signed-in visitor's 404 page is unchanged).
	r.GET("/:file", h.VerifyFile)
	r.GET("/signin", h.SigninPage)
	r.POST("/signin", h.Signin)
	r.POST("/signout", s.requireUser, h.Signout)
	r.POST("/lang", h.SetLanguage)

	wecom := r.Group("/auth/wecom/:name")
	wecom.GET("/start", h.WeComStart)
	wecom.GET("/callback", h.WeComCallback)
	wecom.POST("/confirm", h.WeComConfirm)
	// The hand-off QR code (DESIGN.md §7): the phone opens the link; the desktop polls, continues or cancels.
	wecom.GET("/handoff/:token", h.WeComHandoffOpen)
	wecom.GET("/handoff-status", h.WeComHandoffStatus)
	wecom.POST("/handoff-continue", h.WeComHandoffContinue)
	wecom.POST("/handoff-cancel", h.WeComHandoffCancel)
	// WeCom's event callback (DESIGN.md §11): the URL check and signed, encrypted events, up to 1 MiB.
	wecom.GET("/events", h.WeComEvents)
	uploads.POST(wecom, "/events", handlers.EventMaxBody, h.WeComEvents)

	account := r.Group("", s.requireUser)
	account.GET("/account", h.Account)
	account.GET("/m", h.Account)
	account.POST("/account/sessions/revoke-others", h.RevokeOtherSessions)
	account.POST("/account/bindings/:bid/delete", h.AccountUnbind)

	admin := r.Group("/admin", s.requireAdmin)
	admin.GET("", h.Dashboard)
	admin.GET("/users", h.UserList)
	admin.GET("/users/export", h.UserExport)
	admin.GET("/users/new", h.UserNew)
	admin.POST("/users", h.UserCreate)
	admin.GET("/users/:id", h.UserEdit)
	admin.POST("/users/:id", h.UserUpdate)
	admin.POST("/users/:id/sessions/revoke", h.UserRevokeSessions)
	admin.POST("/users/:id/bindings", h.BindingCreate)
	admin.POST("/users/:id/bindings/:bid/delete", h.BindingDelete)
	admin.GET("/authenticators", h.AuthenticatorList)
	admin.GET("/authenticators/new", h.AuthenticatorNew)
	admin.POST("/authenticators", h.AuthenticatorCreate)
	admin.GET("/authenticators/:id", h.AuthenticatorEdit)
	admin.POST("/authenticators/:id", h.AuthenticatorUpdate)
	admin.POST("/authenticators/:id/delete", h.AuthenticatorDelete)
	admin.POST("/authenticators/:id/test", h.AuthenticatorTest)
	admin.POST("/authenticators/:id/toggle", h.AuthenticatorToggle)
	admin.POST("/authenticators/:id/move", h.AuthenticatorMove)
	uploads.POST(admin, "/authenticators/:id/verify-file", 16<<10, h.AuthenticatorVerifyFile)
	admin.GET("/groups", h.GroupList)
	admin.GET("/groups/new", h.GroupNew)
	admin.POST("/groups", h.GroupCreate)
	admin.GET("/groups/:id", h.GroupEdit)
	admin.POST("/groups/:id", h.GroupUpdate)
	admin.POST("/groups/:id/delete", h.GroupDelete)
	admin.GET("/apps", h.AppList)
	admin.GET("/apps/new", h.AppNew)
	admin.POST("/apps", h.AppCreate)
	admin.GET("/apps/:id", h.AppEdit)
	admin.POST("/apps/:id", h.AppUpdate)
	admin.POST("/apps/:id/toggle", h.AppToggle)
	admin.POST("/apps/:id/delete", h.AppDelete)
	admin.POST("/apps/:id/secret", h.AppSecret)
	admin.GET("/audit", h.Audit)
	admin.GET("/audit/export", h.AuditExport)
	admin.GET("/bindings/import", h.BulkBindForm)
	uploads.POST(admin, "/bindings/import", handlers.BulkBindMaxFile+64<<10, h.BulkBindUpload)
	admin.GET("/bindings/import/:id", h.BulkBindPreview)
	admin.GET("/bindings/import/:id/result.csv", h.BulkBindResult)
	admin.POST("/bindings/import/apply", h.BulkBindApply)

	// The OpenID Connect provider's browser side: the login hand-off, the callback that hands out the
	// code (only to the browser that signed in), RP-initiated logout and its confirmation.
	if h.OIDC != nil {
		oidc := r.Group("/oidc")
		oidc.GET("/login", h.OIDCLogin)
		oidc.GET("/authorize/callback", h.OIDCCallback)
		oidc.GET("/end_session", h.OIDCEndSession)
		oidc.GET("/logout", h.OIDCLogoutPage)
		oidc.POST("/logout", h.OIDCLogout)
	}

	if s.demoSim != nil {
		r.POST("/_demo/wecom-client", h.DemoWeComToggle)
		mountDemo(r, s.demoSim)
		if h.OIDC != nil { // the demo's "internal tool", an app that signs in with Gatehouse
			tool := handlers.NewDemoTool(h, demoOrigin(s.cfg))
			r.GET(handlers.DemoToolPath, tool.Page)
			r.GET(handlers.DemoToolPath+"/login", tool.Login)
			r.GET(handlers.DemoToolPath+"/callback", tool.Callback)
			r.GET(handlers.DemoToolPath+"/signedout", tool.SignedOut)
		}
	}
	r.NoRoute(h.NotFound)
	return r
}
