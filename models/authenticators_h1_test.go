package models_test

import (
	"errors"
	"sync"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestSecurityLastEnabledRace: two admins disabling the last two enabled authenticators at the same
// moment never leave none enabled; one of them is refused with ErrLastEnabled.
func TestSecurityLastEnabledRace(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		pw, err := s.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
		if err != nil {
			t.Fatal(err)
		}
		wc := models.Authenticator{Name: "corp", Type: models.TypeWeCom, Title: "WeCom", Enabled: true}
		if err := s.CreateAuthenticator(ctx, &wc); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 20; round++ {
			for _, id := range []int64{pw.ID, wc.ID} {
				if err := s.DB().Model(&models.Authenticator{}).Where("id = ?", id).UpdateColumn("enabled", true).Error; err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, id := range []int64{pw.ID, wc.ID} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, err := s.AuthenticatorByID(ctx, id)
					if err != nil {
						errs[i] = err
						return
					}
					a.Enabled = false
					<-start
					errs[i] = s.SaveAuthenticator(ctx, &a)
				}()
			}
			close(start)
			wg.Wait()
			_, enabled, err := s.CountAuthenticators(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if enabled != 1 {
				t.Fatalf("round %d: %d enabled authenticators after two parallel disables (errors %v)", round, enabled, errs)
			}
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, models.ErrLastEnabled):
					refused++
				case err != nil:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: %d refusals, want 1", round, refused)
			}
		}
	})
}
