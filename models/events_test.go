package models_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestEventClaims: an event is claimed once (a second claim, from a retry or another instance, is
// refused), a released claim can be claimed again, and the sweep forgets old claims only.
func TestEventClaims(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		e := models.DirectoryEvent{AuthenticatorID: 1, Member: "zhangsan", Event: "unsubscribe", CreateTime: now.Unix(), SeenAt: now}
		for i, want := range []bool{true, false} {
			if fresh, err := s.ClaimEvent(ctx, e); err != nil || fresh != want {
				t.Fatalf("claim %d = %v, %v", i, fresh, err)
			}
		}
		other := e
		other.Event = "subscribe"
		if fresh, err := s.ClaimEvent(ctx, other); err != nil || !fresh {
			t.Fatalf("another event of the same member and time = %v, %v", fresh, err)
		}
		if err := s.ReleaseEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if fresh, err := s.ClaimEvent(ctx, e); err != nil || !fresh {
			t.Fatalf("claim after release = %v, %v", fresh, err)
		}
		old := e
		old.CreateTime, old.SeenAt = now.Add(-time.Hour).Unix(), now.Add(-time.Hour)
		if _, err := s.ClaimEvent(ctx, old); err != nil {
			t.Fatal(err)
		}
		if n, err := s.SweepEvents(ctx, now.Add(-20*time.Minute)); err != nil || n != 1 {
			t.Fatalf("swept %d, %v", n, err)
		}
		if fresh, _ := s.ClaimEvent(ctx, e); fresh {
			t.Fatal("the sweep forgot a recent claim")
		}
	})
}

// TestSecurityEventSettingsResealed: event settings sealed with a previous key are re-sealed with the
// current one at start-up and still open for their row and purpose only.
func TestSecurityEventSettingsResealed(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		old := mustSealer(t, keyOld)
		tok, err := old.Seal("tok", models.EventToken("corp"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := old.Seal("key", models.EventAESKey("corp"))
		if err != nil {
			t.Fatal(err)
		}
		sec, err := old.Seal("secret", models.AuthenticatorSecret("corp"))
		if err != nil {
			t.Fatal(err)
		}
		a := models.Authenticator{Name: "corp", Type: models.TypeWeCom, Title: "WeCom", Enabled: true, SecretSealed: sec, EventTokenSealed: tok, EventAESKeySealed: key}
		if err := s.CreateAuthenticator(ctx, &a); err != nil {
			t.Fatal(err)
		}
		cur := mustSealer(t, keyNew, keyOld)
		st, err := s.ResealSecrets(ctx, cur)
		if err != nil || st.Resealed != 3 {
			t.Fatalf("resealed %d, %v", st.Resealed, err)
		}
		a, err = s.AuthenticatorByID(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		onlyNew := mustSealer(t, keyNew)
		if v, err := onlyNew.Open(a.EventTokenSealed, models.EventToken("corp")); err != nil || v != "tok" {
			t.Fatalf("token = %q, %v", v, err)
		}
		if v, err := onlyNew.Open(a.EventAESKeySealed, models.EventAESKey("corp")); err != nil || v != "key" {
			t.Fatalf("key = %q, %v", v, err)
		}
		if _, err := onlyNew.Open(a.EventAESKeySealed, models.EventToken("corp")); err == nil {
			t.Fatal("the key opens as a token")
		}
	})
}
