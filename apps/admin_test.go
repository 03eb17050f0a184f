package apps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestConcurrentOverlappingDomains: admins saving proxy apps at the same moment cannot both take an
// overlapping domain; exactly one wins and the others get the field error.
func TestConcurrentOverlappingDomains(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		svc := NewApps(s)
		ctx := context.Background()
		domains := []string{"*.tools.corp.example", "ci.tools.corp.example", "*.corp.example"} // each overlaps every other
		const n = 24
		var wg sync.WaitGroup
		// Open the pool's connections first, so the creates start together rather than one per dial.
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.InTx(ctx, func(tx *models.Store) error { time.Sleep(50 * time.Millisecond); _, err := tx.Apps(ctx); return err })
			}()
		}
		wg.Wait()
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = svc.Create(ctx, Input{Type: models.AppTypeProxy, Name: fmt.Sprintf("app-%d", i), Title: "App",
					Enabled: true, Access: models.AccessEveryone, Domains: domains[i%len(domains)]})
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			var bad Invalid
			switch {
			case err == nil:
				won++
			case errors.As(err, &bad) && bad["domains"].Code == "domain_taken":
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}
		list, err := s.AppsOfType(ctx, models.AppTypeProxy)
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || len(list) != 1 {
			t.Errorf("%d creates succeeded, %d apps stored; want exactly one", won, len(list))
		}
	})
}

// TestDeleteAndSecrets: the service deletes in one transaction, refuses a secret to a public client
// and a proxy app, and a new secret replaces the old hash.
func TestDeleteAndSecrets(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		svc := NewApps(s)
		ctx := context.Background()
		in := Input{Type: models.AppTypeOIDC, Name: "grafana", Title: "Grafana", Access: models.AccessEveryone, RedirectURIs: "https://g.example/cb"}
		saved, err := svc.Create(ctx, in)
		if err != nil || saved.Secret == "" || !CheckSecret(saved.App.SecretHash, saved.Secret) {
			t.Fatalf("create: %v, secret %q", err, saved.Secret)
		}
		_, secret, err := svc.NewSecret(ctx, saved.App.ID)
		a, _ := s.App(ctx, saved.App.ID)
		if err != nil || CheckSecret(a.SecretHash, saved.Secret) || !CheckSecret(a.SecretHash, secret) {
			t.Errorf("new secret: %v", err)
		}
		in.Public = true
		if up, err := svc.Update(ctx, a.ID, in); err != nil || up.App.SecretHash != "" || up.Secret != "" {
			t.Errorf("made public: %v %+v", err, up)
		}
		if _, _, err := svc.NewSecret(ctx, a.ID); !errors.Is(err, ErrNoSecret) {
			t.Errorf("secret for a public client: %v", err)
		}
		if err := svc.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, a.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}
