package models_test

import (
	"context"
	"sync"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// Parallel anonymous refusals from one address each take their own number from the per-minute
// allowance: the cap holds exactly, not just for refusals that come one after another.
func TestSecurityAuditCapParallel(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		const refusals = 40
		results := make([]models.AuditResult, refusals)
		errs := make([]error, refusals)
		var wg sync.WaitGroup
		for i := range refusals {
			wg.Go(func() {
				results[i], errs[i] = s.Record(context.Background(), models.Event{Action: models.ActionSigninFailed, Target: "guess", IP: "192.0.2.7"})
			})
		}
		wg.Wait()
		count := map[models.AuditResult]int{}
		for i, r := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			count[r]++
		}
		var rows int64
		if err := s.DB().Model(&models.AuditEvent{}).Where("ip = ?", "192.0.2.7").Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		// A minute boundary during the test opens a second allowance; otherwise the numbers are exact.
		limit := models.AnonymousAuditPerMinute
		exact := count[models.AuditWritten] == limit && count[models.AuditSummarised] == 1 && rows == int64(limit+1)
		straddled := count[models.AuditWritten] <= 2*limit && count[models.AuditSummarised] <= 2 && rows <= int64(2*(limit+1))
		if !exact && !straddled {
			t.Fatalf("results %v and %d rows for %d parallel refusals, want %d written and 1 summary", count, rows, refusals, limit)
		}
		signedIn := models.Event{ActorUserID: 1, Action: models.ActionSigninFailed, Target: "x", IP: "192.0.2.7"}
		if r, err := s.Record(context.Background(), signedIn); err != nil || r != models.AuditWritten {
			t.Fatalf("a signed-in actor's event was left out by the anonymous cap: %v %v", r, err)
		}
	})
}
