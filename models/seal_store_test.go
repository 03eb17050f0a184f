package models_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestSecurityTokenMovedToAnotherCacheKey: an access token sealed for one corp/app, copied into the
// row of another, is not served for it: the cache treats it as missing and fetches the right one.
func TestSecurityTokenMovedToAnotherCacheKey(t *testing.T) {
	const keyA, keyB = "wwaaaaaaaaaaaaaaaa:1000002:1111111111111111", "wwbbbbbbbbbbbbbbbb:1000002:2222222222222222"
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := &fetcher{life: time.Hour}
		tokA := mustToken(t, models.NewTokenCache(s, mustSealer(t, keyNew), time.Now), keyA, f)
		var rowA models.WeComToken
		if err := s.DB().Where("cache_key = ?", keyA).First(&rowA).Error; err != nil {
			t.Fatal(err)
		}
		rowB := rowA
		rowB.CacheKey = keyB
		if err := s.DB().Create(&rowB).Error; err != nil {
			t.Fatal(err)
		}
		// A fresh cache: no in-process copy, so the copied row is what it reads.
		got, err := models.NewTokenCache(s, mustSealer(t, keyNew), time.Now).Token(ctx, keyB, f.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if got == tokA || f.calls.Load() != 2 {
			t.Fatalf("token for B = %q after %d fetches; A's token %q was served for B", got, f.calls.Load(), tokA)
		}
	})
}

// TestTokenCacheOpensV1Tokens: a token sealed before rows were bound (v1) is still served.
func TestTokenCacheOpensV1Tokens(t *testing.T) {
	const key = "ww1234567890abcdef:1000002:0123456789abcdef"
	// Sealed by commit 5877f9e's Sealer with keyOld: "token-v1-XYZ".
	const v1Token = "v1.3774fbbf.icJyEQXqHHGh//u+JHUjvjbx5If+ffeoHicOf4y2KrU9ORWFGXVwug"
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		now := time.Now().UTC()
		row := models.WeComToken{CacheKey: key, TokenSealed: v1Token, ExpiresAt: now.Add(time.Hour), RefreshedAt: now}
		if err := s.DB().Create(&row).Error; err != nil {
			t.Fatal(err)
		}
		f := &fetcher{life: time.Hour}
		if got := mustToken(t, models.NewTokenCache(s, mustSealer(t, keyNew, keyOld), time.Now), key, f); got != "token-v1-XYZ" || f.calls.Load() != 0 {
			t.Fatalf("token %q after %d fetches, want the v1 token without a fetch", got, f.calls.Load())
		}
	})
}
