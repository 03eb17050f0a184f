package web

import (
	"net/http"
	"strconv"
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
	breakers *prometheus.CounterVec
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
		breakers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_wecom_breaker_opens_total", Help: "Times calls to a WeCom API host and corp were paused after repeated failures.",
		}, []string{"api_base", "corp_id"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.signins, m.breakers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Signin counts one sign-in attempt.
func (m *Metrics) Signin(method, outcome string) { m.signins.WithLabelValues(method, outcome).Inc() }

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
