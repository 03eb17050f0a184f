package models_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// ownBindingWorld is a user without a password bound at two enabled WeCom authenticators of one corp.
func ownBindingWorld(t *testing.T, s *models.Store, password bool) (models.User, []models.Binding) {
	t.Helper()
	u := models.User{Username: "alice"}
	if password {
		u.PasswordHash = ptr("$2a$10$abcdefghijklmnopqrstuuTDYpDbBzJTXI0lyCwxI7iXDXdyCbo6W")
	}
	u = createUser(t, s, u)
	var list []models.Binding
	for i, name := range []string{"one", "two"} {
		a := models.Authenticator{Name: name, Type: models.TypeWeCom, Title: name, Enabled: true, Sort: 10 + i,
			Options: models.AuthenticatorOptions{CorpID: "wwcorp", AgentID: int64(1000002 + i)}}
		if err := s.CreateAuthenticator(ctx, &a); err != nil {
			t.Fatal(err)
		}
		b := models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: "alice", CorpID: "wwcorp", CreatedAt: time.Now().UTC()}
		if err := s.CreateBinding(ctx, &b); err != nil {
			t.Fatal(err)
		}
		list = append(list, b)
	}
	return u, list
}

// TestUnbindOwn: a member may remove a binding while another way to sign in remains, never the last.
func TestUnbindOwn(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		u, bs := ownBindingWorld(t, s, false)
		if _, _, err := s.UnbindOwn(ctx, u.ID, bs[0].ID, time.Now()); err != nil {
			t.Fatalf("first unbind: %v", err)
		}
		if _, _, err := s.UnbindOwn(ctx, u.ID, bs[1].ID, time.Now()); !errors.Is(err, models.ErrLastSignIn) {
			t.Fatalf("last unbind: %v, want ErrLastSignIn", err)
		}
		if _, _, err := s.UnbindOwn(ctx, u.ID+1, bs[1].ID, time.Now()); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("another user's binding: %v, want ErrNotFound", err)
		}
	})
}

// TestSecurityConcurrentUnbindsKeepOneWayIn: two unbinds at once of a member's two bindings (two tabs,
// a double click) cannot both pass the "another way remains" check and lock the member out.
func TestSecurityConcurrentUnbindsKeepOneWayIn(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		for round := 0; round < 5; round++ {
			if err := s.DB().Exec("DELETE FROM user_authenticators").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Exec("DELETE FROM authenticators WHERE type = ?", models.TypeWeCom).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Exec("DELETE FROM users").Error; err != nil {
				t.Fatal(err)
			}
			u, bs := ownBindingWorld(t, s, false)
			var (
				wg   sync.WaitGroup
				errs = make([]error, 2)
			)
			start := make(chan struct{})
			for i := range bs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, _, errs[i] = s.UnbindOwn(ctx, u.ID, bs[i].ID, time.Now())
				}()
			}
			close(start)
			wg.Wait()
			left, err := s.UserBindings(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 {
				t.Fatalf("round %d: %d bindings left (errors %v), want 1", round, len(left), errs)
			}
		}
	})
}
