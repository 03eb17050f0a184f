package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gatehouse/models"
)

// auditEvents is how many events the audit scenario seeds (issue 16: pages under 20 ms at 1,000,000).
const auditEvents = 1_000_000

// auditPageTarget is the most a page of the audit log may take at auditEvents, median.
const auditPageTarget = 20 * time.Millisecond

// auditScenario seeds auditEvents audit events in one INSERT … SELECT generate_series (PostgreSQL) and
// times Store.ListAudit, the audit page's one query, for the filters an administrator uses: the newest
// page, a deep page (by cursor), and each filter.
func auditScenario(ctx context.Context, o Options) (Result, error) {
	res := NewResult("audit", o)
	if o.DB != "postgres" {
		return res, fmt.Errorf("the audit scenario seeds with generate_series: run it with -db postgres")
	}
	dsn, drop, err := freshSchema(o.DatabaseURL)
	if err != nil {
		return res, err
	}
	defer drop()
	store, err := models.Open(models.Options{DatabaseURL: dsn})
	if err != nil {
		return res, err
	}
	defer store.Close()
	if err := migrate(ctx, store); err != nil {
		return res, err
	}
	start := time.Now()
	if err := seedAudit(ctx, store); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Progress, "audit: seeded %d events in %v\n", auditEvents, time.Since(start).Round(time.Millisecond))

	now := time.Now().UTC()
	targets := []struct {
		name   string
		f      models.AuditFilter
		before int64
	}{
		{"newest page", models.AuditFilter{}, 0},
		{"page at the middle (cursor)", models.AuditFilter{}, auditEvents / 2},
		{"action prefix signin.", models.AuditFilter{Action: "signin."}, 0},
		{"exact action binding.create", models.AuditFilter{Action: "binding.create"}, 0},
		{"authenticator", models.AuditFilter{Authenticator: "corp-7"}, 0},
		{"outcome (rare)", models.AuditFilter{Outcome: "member_left"}, 0},
		{"ip", models.AuditFilter{IP: "10.0.3.7"}, 0},
		{"actor", models.AuditFilter{Actor: benchAdmin}, 0},
		{"one day a month ago", models.AuditFilter{From: now.AddDate(0, 0, -31), To: now.AddDate(0, 0, -30)}, 0},
		{"authenticator, outcome and ip", models.AuditFilter{Authenticator: "corp-3", Outcome: "not_bound", IP: "10.0.1.3"}, 0},
	}
	rounds := max(o.Rounds, 1) * 5
	for _, tt := range targets {
		var took []time.Duration
		rows := 0
		for range rounds {
			t0 := time.Now()
			p, err := store.ListAudit(ctx, tt.f, tt.before, 50)
			if err != nil {
				return res, fmt.Errorf("%s: %w", tt.name, err)
			}
			took = append(took, time.Since(t0))
			rows = len(p.Events)
		}
		slices.Sort(took)
		med := took[len(took)/2]
		res.AddCheck(fmt.Sprintf("audit page, %s (%d rows)", tt.name, rows), "median < "+auditPageTarget.String(), med.Round(10*time.Microsecond).String(), med < auditPageTarget)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d events over 180 days, %d rounds per filter; the time is Store.ListAudit (the page's one query), 50 rows a page", auditEvents, rounds))
	return res, nil
}

// seedAudit writes auditEvents events spread over the last 180 days, newest with the highest id, in one
// statement, then analyses the table so the planner knows it.
func seedAudit(ctx context.Context, store *models.Store) error {
	q := fmt.Sprintf(`INSERT INTO audit_events (at, actor_user_id, action, target, ip, detail, authenticator, outcome)
		SELECT now() - ((%[1]d - g) * interval '15.552 seconds'),
			CASE WHEN g %% 5 = 0 THEN (SELECT min(id) FROM users) END,
			(ARRAY['signin.ok','signin.ok','signin.ok','signin.refused','signin.failed','user.update','binding.create','signout'])[1 + g %% 8],
			'user' || (g %% 5000),
			'10.0.' || (g %% 7) || '.' || (g %% 251),
			'{}',
			'corp-' || (g %% 10),
			(ARRAY['','','','not_bound','invalid_credentials','','','','','','','','','','','','','','','member_left'])[1 + g %% 20]
		FROM generate_series(1, %[1]d) AS g`, auditEvents)
	if err := store.DB().WithContext(ctx).Exec(q).Error; err != nil {
		return fmt.Errorf("seed audit events: %w", err)
	}
	return store.DB().WithContext(ctx).Exec("ANALYZE audit_events").Error
}
