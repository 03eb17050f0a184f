package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/directory"
	"gatehouse/models"
)

// newDirectorySweeper builds the directory sweep (GATEHOUSE_DIRECTORY_SYNC): each member it reads is
// refreshed by the Refresher (status, departments, tags), with its metrics on the server's registry.
func newDirectorySweeper(cfg Config, store *models.Store, log *slog.Logger, now func() time.Time, members *directory.Members, refresher *directory.Refresher, metrics *Metrics, opts directory.SweepOptions) *directory.Sweeper {
	if opts.Now == nil {
		opts.Now = now
	}
	opts.Observer = newSweepMetrics(metrics.registry)
	return directory.NewSweeper(store, members, directory.RefreshReader{Refresher: refresher}, cfg.DirectorySync, log, opts)
}

// SweepDirectoryOnce does what the directory sweep would do at its next tick (tests, operators' tools).
func (s *Server) SweepDirectoryOnce(ctx context.Context) error { return s.sweeper.Step(ctx) }

// sweepMetrics are the directory sweep's Prometheus metrics.
type sweepMetrics struct {
	members  *prometheus.CounterVec
	pauses   *prometheus.CounterVec
	finished prometheus.Gauge
	duration prometheus.Gauge
	last     *prometheus.GaugeVec
}

func newSweepMetrics(reg *prometheus.Registry) *sweepMetrics {
	m := &sweepMetrics{
		members: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_directory_sweep_members_total",
			Help: "Members the directory sweep of this instance read, by result: active, back (let back), left (cut off), gone (still cut off), error (no answer; nobody cut off).",
		}, []string{"result"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_directory_sweep_pauses_total",
			Help: "Times the directory sweep paused a corp: throttled (WeCom 45009/45033) or unavailable (the app cannot call WeCom now).",
		}, []string{"reason"}),
		finished: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_directory_sweep_last_round_timestamp_seconds",
			Help: "When the last finished directory sweep round of the fleet finished (Unix time).",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_directory_sweep_last_round_duration_seconds",
			Help: "How long the last finished directory sweep round of the fleet took.",
		}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_directory_sweep_last_round_members",
			Help: "Members of the last finished directory sweep round, by count: checked, left, back, failed.",
		}, []string{"count"}),
	}
	for _, r := range []string{directory.SweepActive, directory.SweepBack, directory.SweepLeft, directory.SweepGone, directory.SweepError} {
		m.members.WithLabelValues(r)
	}
	reg.MustRegister(m.members, m.pauses, m.finished, m.duration, m.last)
	return m
}

func (m *sweepMetrics) SweptMember(result string) { m.members.WithLabelValues(result).Inc() }

func (m *sweepMetrics) SweepPaused(reason string) { m.pauses.WithLabelValues(reason).Inc() }

func (m *sweepMetrics) SweepRound(r models.DirectorySweepRound) {
	if r.FinishedAt == nil {
		return
	}
	m.finished.Set(float64(r.FinishedAt.UnixMilli()) / 1000)
	m.duration.Set(r.FinishedAt.Sub(r.StartedAt).Seconds())
	m.last.WithLabelValues("checked").Set(float64(r.MembersChecked))
	m.last.WithLabelValues("left").Set(float64(r.MembersLeft))
	m.last.WithLabelValues("back").Set(float64(r.MembersBack))
	m.last.WithLabelValues("failed").Set(float64(r.MembersFailed))
}
