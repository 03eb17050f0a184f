package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are Gatehouse's Prometheus metrics, on a registry of their own (no global state).
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	signins  *prometheus.CounterVec
	// suppressed counts anonymous refusals beyond the audit cap (models.AnonymousAuditPerMinute).
	suppressed *prometheus.CounterVec
	// breakers counts openings of the WeCom circuit breaker per API host and corp.
	breakers *prometheus.CounterVec
	// forward counts forward-auth checks per app and outcome (DESIGN.md §10).
	forward *prometheus.CounterVec
	// oidcSignins counts OpenID Connect grants and refusals per app and outcome (DESIGN.md §10).
	oidcSignins *prometheus.CounterVec
}

// NewMetrics registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 6},
		}, []string{"method", "route"}),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total", Help: "Sign-in attempts by method and outcome.",
		}, []string{"method", "outcome"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_audit_suppressed_total", Help: "Anonymous sign-in refusals not written to the audit log because their address exceeded the per-minute cap.",
		}, []string{"action"}),
		breakers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_wecom_breaker_opens_total", Help: "Times calls to a WeCom API host and corp were paused after repeated failures.",
		}, []string{"api_base", "corp_id"}),
	}
	m.forward = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_forward_auth_checks_total", Help: "Forward-auth checks by app and outcome (allowed, signin, app_denied, uncovered).",
	}, []string{"app", "outcome"})
	m.registry.MustRegister(m.forward)
	m.oidcSignins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_oidc_signins_total", Help: "OpenID Connect sign-ins to apps by app and outcome (ok, app_denied, login_required, ...).",
	}, []string{"app", "outcome"})
	m.registry.MustRegister(m.oidcSignins)
	m.registry.MustRegister(m.requests, m.latency, m.signins, m.suppressed, m.breakers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Signin counts one sign-in attempt.
func (m *Metrics) Signin(method, outcome string) { m.signins.WithLabelValues(method, outcome).Inc() }

// ForwardCheck counts one forward-auth check ("" app: no app covers the host).
func (m *Metrics) ForwardCheck(app, outcome string) { m.forward.WithLabelValues(app, outcome).Inc() }

// OIDCSignin counts one OpenID Connect grant or refusal.
func (m *Metrics) OIDCSignin(app, outcome string) { m.oidcSignins.WithLabelValues(app, outcome).Inc() }

// AuditSuppressed counts one refusal whose audit row the anonymous cap left out.
func (m *Metrics) AuditSuppressed(action string) { m.suppressed.WithLabelValues(action).Inc() }

// BreakerOpened counts one opening of the WeCom circuit breaker of an API host and corp.
func (m *Metrics) BreakerOpened(apiBase, corpID string) {
	m.breakers.WithLabelValues(apiBase, corpID).Inc()
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// middleware records every request under its route pattern (not the raw path, to bound cardinality).
func (m *Metrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
	m.latency.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
}

// metricsGuard lets a scrape through only with the configured Bearer token (GATEHOUSE_METRICS_TOKEN);
// with no token configured it lets everything through, so it is only used where that is right: the
// public route exists only with a token, the metrics listener is the operator's choice.
func metricsGuard(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		// Hashing first makes the comparison constant-time in the token's length too.
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MetricsHandler is the handler of the metrics listener (GATEHOUSE_METRICS_ADDR): GET /metrics, with
// the token when one is configured, and 404 for every other path.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsGuard(s.cfg.MetricsToken, s.metrics.Handler()))
	return mux
}
