package apps

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestOIDCKeySchedule: the first key is made once, however many instances ask at once; a scheduled
// rotation happens only when the key is old enough; a retired key stays in the key set for
// keyRetention and then leaves it.
func TestOIDCKeySchedule(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			store := modelstest.Open(t, dialect)
			sealer, err := models.NewSealer([]byte("test-secret-key-0123456789abcdef-0123456789"))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			now := time.Now().UTC()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			origin, _ := url.Parse("https://id.acme.test")
			instances := make([]*Provider, 3)
			for i := range instances {
				p, err := NewProvider(store, OIDCConfig{Origin: origin, SecretKey: []byte("test-secret-key-0123456789abcdef-0123456789"), Sealer: sealer, Now: clock})
				if err != nil {
					t.Fatal(err)
				}
				instances[i] = p
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			for _, p := range instances {
				wg.Add(1)
				go func() { defer wg.Done(); _ = p.EnsureKey(ctx) }()
			}
			wg.Wait()
			keys := func() []models.OIDCKey {
				var k []models.OIDCKey
				store.DB().Find(&k)
				return k
			}
			if n := len(keys()); n != 1 {
				t.Fatalf("%d keys after three instances started together, want 1", n)
			}
			p := instances[0]
			if rotated, err := p.RotateKeysIfOlder(ctx, time.Hour); err != nil || rotated {
				t.Fatalf("a fresh key was rotated: %v %v", rotated, err)
			}
			advance(2 * time.Hour)
			if rotated, err := p.RotateKeysIfOlder(ctx, time.Hour); err != nil || !rotated {
				t.Fatalf("an old key was not rotated: %v %v", rotated, err)
			}
			set, err := (&storage{p: p}).KeySet(ctx)
			if err != nil || len(set) != 2 {
				t.Fatalf("key set after rotation: %d keys, %v", len(set), err)
			}
			signing, _ := (&storage{p: p}).SigningKey(ctx)
			advance(keyRetention + time.Minute)
			set, _ = (&storage{p: p}).KeySet(ctx)
			if len(set) != 1 || set[0].ID() != signing.ID() {
				t.Fatalf("after the retention the key set holds %d keys, want only the current one", len(set))
			}
		})
	}
}

// TestOIDCSweep: authorize requests and tokens go a day after they expired (kept that long so that a
// replayed code or refresh token is recognised); live ones stay.
func TestOIDCSweep(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			store := modelstest.Open(t, dialect)
			ctx := context.Background()
			now := time.Now().UTC()
			origin, _ := url.Parse("https://id.acme.test")
			p, err := NewProvider(store, OIDCConfig{Origin: origin, SecretKey: []byte("test-secret-key-0123456789abcdef-0123456789"), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			for i, exp := range []time.Time{now.Add(-25 * time.Hour), now.Add(-time.Hour), now.Add(time.Hour)} {
				r := models.OIDCAuthRequest{ID: random(8), AppID: 1, ClientID: "c", CreatedAt: exp.Add(-time.Minute), ExpiresAt: exp}
				if err := store.CreateOIDCAuthRequest(ctx, &r); err != nil {
					t.Fatal(err)
				}
				tok := models.OIDCToken{Hash: hashToken(random(8)), Kind: models.OIDCAccessToken, GrantID: r.ID, AppID: 1, ClientID: "c", UserID: int64(i + 1), SessionID: "s", ExpiresAt: exp}
				if err := store.CreateOIDCTokens(ctx, &tok); err != nil {
					t.Fatal(err)
				}
			}
			n, err := p.Sweep(ctx)
			if err != nil || n != 2 {
				t.Fatalf("swept %d rows (%v), want the request and the token expired over a day ago", n, err)
			}
			var reqs, toks int64
			store.DB().Model(&models.OIDCAuthRequest{}).Count(&reqs)
			store.DB().Model(&models.OIDCToken{}).Count(&toks)
			if reqs != 2 || toks != 2 {
				t.Fatalf("%d requests and %d tokens left, want 2 and 2", reqs, toks)
			}
		})
	}
}
