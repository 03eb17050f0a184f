package models_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestAuditFilters: the filters of issue 16 (authenticator, outcome, IP, time range) on both databases,
// with the authenticator and outcome read from Event fields or from the detail.
func TestAuditFilters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		for _, e := range []models.Event{
			{Action: models.ActionSigninRefused, Target: "a", IP: "10.0.0.1", Detail: map[string]any{"authenticator": "acme", "outcome": "not_bound"}},
			{Action: models.ActionSigninRefused, Target: "b", IP: "10.0.0.2", Authenticator: "acme", Outcome: "member_left"},
			{Action: models.ActionSigninFailed, Target: "c", IP: "10.0.0.1", Detail: map[string]any{"outcome": "invalid_credentials"}},
			{Action: models.ActionBindingCreate, Target: "d", Detail: map[string]any{"authenticator": "other"}},
			{Action: models.ActionUserUpdate, Target: "e", Detail: map[string]any{"authenticator": 42}}, // not a name: ignored
		} {
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		hour := time.Now().UTC().Add(-time.Hour)
		tests := []struct {
			name string
			f    models.AuditFilter
			want string
		}{
			{"authenticator from detail or field", models.AuditFilter{Authenticator: "acme"}, "b a"},
			{"outcome", models.AuditFilter{Outcome: "invalid_credentials"}, "c"},
			{"ip", models.AuditFilter{IP: "10.0.0.1"}, "c a"},
			{"authenticator and outcome", models.AuditFilter{Authenticator: "acme", Outcome: "member_left"}, "b"},
			{"action prefix and ip", models.AuditFilter{Action: "signin.", IP: "10.0.0.2"}, "b"},
			{"from an hour ago", models.AuditFilter{From: hour}, "e d c b a"},
			{"to an hour ago", models.AuditFilter{To: hour}, ""},
			{"to in an hour", models.AuditFilter{To: time.Now().UTC().Add(time.Hour)}, "e d c b a"},
			{"from and to around now", models.AuditFilter{From: hour, To: time.Now().UTC().Add(time.Hour), Outcome: "not_bound"}, "a"},
			{"unknown authenticator", models.AuditFilter{Authenticator: "nope"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.ListAudit(ctx, tt.f, 0, 50)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range p.Events {
					got = append(got, e.Target)
				}
				if strings.Join(got, " ") != tt.want {
					t.Fatalf("got %q, want %q", strings.Join(got, " "), tt.want)
				}
			})
		}
	})
}

// TestEachAuditReadsEveryBatch: the export walks every page of a filter, newest first.
func TestEachAuditReadsEveryBatch(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		const n = 2105 // more than two batches of 1000
		if err := s.DB().Exec(seedSQL(s.Dialect(), n)).Error; err != nil {
			t.Fatal(err)
		}
		var count int
		last := int64(1 << 62)
		err := s.EachAudit(ctx, models.AuditFilter{Action: "user.update"}, func(e models.AuditRow) error {
			if e.ID >= last {
				return fmt.Errorf("id %d after %d: not newest first", e.ID, last)
			}
			last = e.ID
			count++
			return nil
		})
		if err != nil || count != n {
			t.Fatalf("read %d of %d: %v", count, n, err)
		}
	})
}

func seedSQL(dialect string, n int) string {
	if dialect == "postgres" {
		return fmt.Sprintf(`INSERT INTO audit_events (at, action, target, ip, detail) SELECT now() - g * interval '1 second', 'user.update', 'u' || g, '', '{}' FROM generate_series(1, %d) AS g`, n)
	}
	return fmt.Sprintf(`WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d)
		INSERT INTO audit_events (at, action, target, ip, detail) SELECT datetime('now', '-' || i || ' seconds'), 'user.update', 'u' || i, '', '{}' FROM g`, n)
}

// TestPruneAudit: retention deletes exactly the events older than the cutoff, in batches.
func TestPruneAudit(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		now := time.Now().UTC()
		for i := range 7 {
			insertEvent(t, s, models.AuditEvent{At: now.Add(-time.Duration(i) * 24 * time.Hour), Action: "user.update", Target: fmt.Sprintf("d%d", i)})
		}
		n, err := s.PruneAudit(ctx, now.Add(-72*time.Hour-time.Minute), 2)
		if err != nil || n != 3 {
			t.Fatalf("pruned %d, %v; want 3 (days 4 to 6)", n, err)
		}
		p, err := s.ListAudit(ctx, models.AuditFilter{}, 0, 50)
		if err != nil || len(p.Events) != 4 || p.Events[0].Target != "d3" {
			t.Fatalf("left %+v, %v", p.Events, err)
		}
	})
}
