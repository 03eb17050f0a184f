// Package web builds Gatehouse's HTTP server from its configuration: the routes table, middleware,
// static assets and the server's lifecycle.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/auth"
	"gatehouse/directory"
	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/static"
	"gatehouse/views"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// Gin keeps its mode in a package variable; it is set once here, because setting it per server would
// race when several servers start at once (tests, or several instances in one process).
func init() { gin.SetMode(gin.ReleaseMode) }

// Server is one Gatehouse instance: everything it needs is built here and passed down explicitly.
type Server struct {
	cfg      Config
	store    *models.Store
	log      *slog.Logger
	sessions *auth.Sessions
	metrics  *Metrics
	assets   *static.Assets
	h        *handlers.Handlers
	// forwardSessions answers forward-auth checks' session lookups from memory for up to a second.
	forwardSessions *auth.SessionCache
	handler         http.Handler
	demoSim         http.Handler   // the in-process WeCom simulator in demo mode, else nil
	oidc            *apps.Provider // the OpenID Connect provider; nil without GATEHOUSE_BASE_URL
	// trustedProxies are GATEHOUSE_TRUSTED_PROXIES, parsed: peers whose X-Forwarded-Proto is believed.
	trustedProxies []netip.Prefix
	sweeper        *directory.Sweeper // the directory sweep (GATEHOUSE_DIRECTORY_SYNC)
}

// Options are the parts of a server that tests may replace.
type Options struct {
	Now func() time.Time
	// Throttle overrides the password throttle (tests).
	Throttle *auth.Throttle
	// HTTPClient is used for WeCom API calls (nil: the WeCom client's own).
	HTTPClient *http.Client
	// Breaker tunes the WeCom circuit breaker (zero: 5 failures, 30 s); its OnOpen is the server's.
	Breaker wecom.BreakerSettings
	// RequestTimeout bounds each request's work (zero: 10 s).
	RequestTimeout time.Duration
	// DirectorySweep tunes the directory sweep (tests: its clock and pacing).
	DirectorySweep directory.SweepOptions
	// EventRefresh re-reads one member from WeCom for change_contact events (nil: none; tests).
	EventRefresh func(ctx context.Context, a models.Authenticator, userid string) error
}

// defaultRequestTimeout bounds a request's database and WeCom work. A database that stops answering
// without closing its connections (frozen, or cut off by the network) would otherwise hold every
// request, and its goroutine and memory, for good; with the deadline the request ends as a 503. It
// leaves room for the WeCom budget (5 s per call) and for waiting on the shared token's row lock.
const defaultRequestTimeout = 10 * time.Second

// New builds a server on an open, migrated store.
func New(cfg Config, store *models.Store, log *slog.Logger, opts Options) (*Server, error) {
	if len(cfg.SecretKey) < 32 {
		return nil, errors.New("secret key missing: call Config.ResolveSecretKey first")
	}
	now := opts.Now
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	throttle := auth.DefaultThrottle()
	if opts.Throttle != nil {
		throttle = *opts.Throttle
	}
	catalog, err := views.NewCatalog()
	if err != nil {
		return nil, err
	}
	var demoSim http.Handler
	if cfg.Demo {
		sim, err := newDemoSim(cfg)
		if err != nil {
			return nil, fmt.Errorf("start the demo WeCom simulator: %w", err)
		}
		demoSim = sim
		if cfg.BaseURL == nil { // forward-auth and the OIDC issuer (the demo tool signs in with it) need the public origin
			cfg.BaseURL, _ = url.Parse(demoOrigin(cfg))
		}
		base := demoOrigin(cfg) + demoPrefix
		cfg.WeComAPIBase, cfg.WeComOAuthBase, cfg.WeComLoginBase = base, base, base
	} else if err := RetireDemo(context.Background(), store, log); err != nil {
		return nil, fmt.Errorf("retire the demo authenticator: %w", err)
	}
	secure := cfg.BaseURL != nil && cfg.BaseURL.Scheme == "https"
	sealer, err := models.NewSealer(cfg.SecretKey, cfg.PreviousKeys...)
	if err != nil {
		return nil, err
	}
	metrics := NewMetrics()
	breaker := opts.Breaker
	breaker.OnOpen = func(apiBase, corpID string) {
		metrics.BreakerOpened(apiBase, corpID)
		log.Warn("wecom calls paused after repeated failures", "api_base", apiBase, "corp_id", corpID)
	}
	wecomClient := wecom.NewClient(opts.HTTPClient, models.NewTokenCache(store, sealer, now), wecom.WithBreaker(breaker))
	// What WeCom says of each bound member, refreshed at every WeCom sign-in (DESIGN.md §11).
	// One Members applies a leaver's cut-off and return for sign-ins, the sweep and WeCom's events.
	members := &directory.Members{Store: store, Now: now, Log: log}
	refresher := &directory.Refresher{Store: store, WeCom: wecomClient, Members: members, Now: now, Log: log}
	signin := auth.NewWeCom(store, wecomClient, sealer, auth.WeComBases{API: cfg.WeComAPIBase, OAuth: cfg.WeComOAuthBase, Login: cfg.WeComLoginBase, HTTPHosts: cfg.WeComAllowHTTP}, now).WithHandoffTTL(cfg.HandoffTTL).WithDirectory(refresher, log)
	refresher.Config = signin.Config
	proxies, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		store:   store,
		log:     log,
		metrics: metrics,
		demoSim: demoSim,
		assets:  static.New(),
		sessions: auth.NewSessions(store, models.DeriveKey(cfg.SecretKey, "cookie hash"), models.DeriveKey(cfg.SecretKey, "cookie block"),
			cfg.SessionIdle, cfg.SessionMax, secure, now).WithDomain(cfg.CookieDomain),
	}
	s.trustedProxies = proxies
	s.sweeper = newDirectorySweeper(cfg, store, log, now, members, refresher, metrics, opts.DirectorySweep)
	s.forwardSessions = auth.NewSessionCache(s.sessions, forwardSessionTTL)
	if s.oidc, err = s.newOIDC(sealer, now); err != nil {
		return nil, err
	}
	s.h = handlers.New(handlers.Deps{
		Store:    store,
		Sessions: s.sessions,
		Passwords: auth.NewPasswords(store, throttle, now).WithDevices(auth.NewDevices(
			models.DeriveKey(cfg.SecretKey, "device hash"), models.DeriveKey(cfg.SecretKey, "device block"), secure)),
		Accounts:   auth.NewAccounts(store, now),
		WeCom:      signin,
		WeComAdmin: auth.NewWeComAuthenticators(store, sealer, wecomClient, signin, now),
		Breakers:   wecomClient,
		States:     auth.NewStates(models.DeriveKey(cfg.SecretKey, "state hash"), models.DeriveKey(cfg.SecretKey, "state block"), secure, now),
		BaseURL:    cfg.BaseURL,
		Catalog:    catalog,
		Assets:     s.assets,
		Metrics:    s.metrics,
		Log:        log,
		Now:        now,
		Demo:       cfg.Demo,

		PostgreSQL:          store.Dialect() == "postgres",
		SecretKeyFromFile:   cfg.SecretKeyFromFile,
		IsDemoAuthenticator: isDemoAuthenticator,
		DirectorySync:       cfg.DirectorySync,
		Apps:                apps.NewApps(store),
		AppSecrets:          apps.NewShown(models.DeriveKey(cfg.SecretKey, "app secret shown")),
		Events: &directory.Events{Store: store, Sealer: sealer, Now: now, Log: log, Refresh: eventRefresh(opts.EventRefresh, refresher),
			Members: members},
		Forward:        apps.NewForward(store, directory.UserGroups, now),
		ForwardMetrics: metrics,
		CookieDomain:   cfg.CookieDomain,
		OIDC:           s.oidc,
	})
	// Cross-origin POSTs (CSRF) are refused by the standard library's check of Sec-Fetch-Site/Origin;
	// SameSite=Lax cookies are the second layer.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.h.CrossOriginDenied))
	// WeCom's event POSTs come from its servers, not a browser, and are authenticated by their
	// signature, never by a cookie.
	cop.AddInsecureBypassPattern("POST /auth/wecom/{name}/events")
	// nginx's auth_request repeats the original request's method (and the browser's Origin) for the
	// check; a check changes nothing, so it is no CSRF target.
	cop.AddInsecureBypassPattern("/auth/proxy/")
	// Apps' servers (and single-page apps) call these; they carry no Gatehouse cookie to protect.
	for _, p := range []string{"/oidc/oauth/token", "/oidc/revoke", "/oidc/userinfo", "/oidc/oauth/introspect", "/oidc/authorize"} {
		cop.AddInsecureBypassPattern("POST " + p)
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = defaultRequestTimeout
	}
	s.handler = withDeadline(cop.Handler(s.routes()), timeout)
	if sim, ok := demoSim.(*wecomtest.Sim); ok {
		if err := connectDemoEvents(sim, cfg, s.handler); err != nil {
			return nil, fmt.Errorf("demo event callback: %w", err)
		}
	}
	return s, nil
}

// parsePrefixes parses IP addresses and CIDRs (an address is a prefix of its full length).
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", v, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", v, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// withDeadline gives every request's context a deadline, so no database or WeCom call made for it
// can outlast it.
func withDeadline(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Handler is the server's whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves until ctx is cancelled, then drains in-flight requests for up to 10 seconds. With
// GATEHOUSE_METRICS_ADDR it also serves /metrics, alone, on that address.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	var metricsLn net.Listener
	if s.cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", s.cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", s.cfg.MetricsAddr, err)
		}
	}
	return s.ServeWithMetrics(ctx, ln, metricsLn)
}

// maxHeaderBytes bounds a request's header block (Go's default is 1 MB). A browser sends a few KiB:
// each cookie is capped at 4 KiB by browsers and Gatehouse sets about five small ones, but with
// GATEHOUSE_COOKIE_DOMAIN the other apps' cookies of the parent domain arrive too. 32 KiB is four
// times nginx's default per header line (8 KiB) and leaves room for several full cookies; a larger
// header gets 431 from net/http before any handler runs.
const maxHeaderBytes = 32 << 10

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeWithMetrics(ctx, ln, nil)
}

// ServeWithMetrics is Run on existing listeners: ln for the app, metricsLn (nil for none) for
// /metrics alone.
func (s *Server) ServeWithMetrics(ctx context.Context, ln, metricsLn net.Listener) error {
	servers := []*http.Server{s.httpServer(s.handler)}
	listeners := []net.Listener{ln}
	if metricsLn != nil {
		servers = append(servers, s.httpServer(s.MetricsHandler()))
		listeners = append(listeners, metricsLn)
	}
	go s.sweepSessions(ctx)
	if s.oidc != nil {
		go s.oidcMaintenance(ctx, time.Hour)
	}
	go s.pruneAudit(ctx, time.Hour)
	go s.sweeper.Run(ctx, nil)
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	s.log.Info("serving", "addr", ln.Addr().String())
	if metricsLn != nil {
		s.log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	if s.demoSim != nil {
		logDemoGuide(s.log, s.cfg)
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// httpServer is the net/http server for a handler, with the timeouts and limits every listener has.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// sweepSessions deletes sessions that ended more than a week ago, hourly.
func (s *Server) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.DeleteOldSessions(ctx, time.Now().UTC().Add(-7*24*time.Hour)); err != nil {
				s.log.Warn("sweep sessions", "err", err)
			} else if n > 0 {
				s.log.Info("swept old sessions", "count", n)
			}
			// Ended hand-offs are kept a day for support questions, then go.
			if _, err := s.store.DeleteOldHandoffs(ctx, time.Now().UTC().Add(-24*time.Hour)); err != nil {
				s.log.Warn("sweep hand-offs", "err", err)
			}
		}
	}
}

// auditPruneBatch is how many audit events one DELETE removes, so that retention never holds a lock on
// the table for long.
const auditPruneBatch = 5000

// pruneAudit enforces GATEHOUSE_AUDIT_RETENTION now and then every interval. Two instances doing it at
// once is harmless: each batch deletes rows that are already past the cutoff, and one that another
// instance deleted first is simply not there.
func (s *Server) pruneAudit(ctx context.Context, every time.Duration) {
	if s.cfg.AuditRetention <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.PruneAuditOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneAuditOnce deletes the audit events older than the retention, logging what it did.
func (s *Server) PruneAuditOnce(ctx context.Context) int64 {
	if s.cfg.AuditRetention <= 0 {
		return 0
	}
	n, err := s.store.PruneAudit(ctx, time.Now().UTC().Add(-s.cfg.AuditRetention), auditPruneBatch)
	if err != nil {
		s.log.Warn("prune audit events", "err", err, "deleted", n)
	} else if n > 0 {
		s.log.Info("pruned audit events past retention", "count", n, "retention", s.cfg.AuditRetention.String())
	}
	return n
}

func contextWithTimeout(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}

// eventRefresh is what a change_contact event re-reads a member with: the Refresher, unless a test
// replaces it.
func eventRefresh(test func(context.Context, models.Authenticator, string) error, r *directory.Refresher) func(context.Context, models.Authenticator, string) error {
	if test != nil {
		return test
	}
	return func(ctx context.Context, a models.Authenticator, userid string) error {
		_, err := r.Refresh(ctx, a, userid)
		return err
	}
}

// newOIDC builds the OpenID Connect provider when the public origin is known (GATEHOUSE_BASE_URL):
// its issuer must be stable, so without it the provider is off and /oidc/* is 404.
func (s *Server) newOIDC(sealer *models.Sealer, now func() time.Time) (*apps.Provider, error) {
	if s.cfg.BaseURL == nil {
		return nil, nil
	}
	return apps.NewProvider(s.store, apps.OIDCConfig{
		Origin: s.cfg.BaseURL, SecretKey: s.cfg.SecretKey, Sealer: sealer, Now: now,
		Groups: func(ctx context.Context, u models.User) ([]string, error) {
			return directory.UserGroups(ctx, s.store, u)
		},
		Outcome: func(ctx context.Context, app models.App, userID int64, outcome string) {
			s.h.OIDCOutcome(ctx, app, userID, outcome)
		},
	})
}

// oidcMaintenance makes the first signing key at start, then every interval sweeps expired authorize
// requests and tokens and rotates the signing key when it is older than apps.DefaultKeyRotation. Two
// instances doing it at once is harmless: the sweep deletes what is past its cutoff, and of two
// rotations one wins (the unique current key).
func (s *Server) oidcMaintenance(ctx context.Context, every time.Duration) {
	if err := s.oidc.EnsureKey(ctx); err != nil {
		s.log.Warn("oidc signing key", "err", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.oidc.Sweep(ctx); err != nil {
			s.log.Warn("sweep oidc requests and tokens", "err", err)
		} else if n > 0 {
			s.log.Info("swept oidc requests and tokens", "count", n)
		}
		if rotated, err := s.oidc.RotateKeysIfOlder(ctx, apps.DefaultKeyRotation); err != nil {
			s.log.Warn("rotate oidc signing key", "err", err)
		} else if rotated {
			s.log.Info("rotated the oidc signing key")
		}
	}
}
