package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// tokenClock is a settable clock for the cache.
type tokenClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tokenClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *tokenClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fetcher hands out tok-1, tok-2, … and counts its calls.
type fetcher struct {
	calls atomic.Int64
	life  time.Duration
	err   error
}

func (f *fetcher) fetch(context.Context) (string, time.Duration, error) {
	n := f.calls.Add(1)
	if f.err != nil {
		return "", 0, f.err
	}
	return fmt.Sprintf("raw-access-token-%03d", n), f.life, nil
}

func TestTokenCache(t *testing.T) {
	const key = "ww1234567890abcdef:1000002:0123456789abcdef"
	tests := []struct {
		name string
		// run uses the cache and returns the token of a last Token call and the fetches expected.
		run        func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string
		want       string
		wantFetchs int64
	}{
		{"a cold key fetches, a warm one is served from the table", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			mustToken(t, c, key, f)
			return mustToken(t, c, key, f)
		}, "raw-access-token-001", 1},
		{"an expired token is fetched again", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			mustToken(t, c, key, f)
			clk.advance(time.Hour - time.Second)
			mustToken(t, c, key, f)
			clk.advance(time.Second)
			return mustToken(t, c, key, f)
		}, "raw-access-token-002", 2},
		{"Drop with the cached token forgets it", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			tok := mustToken(t, c, key, f)
			if err := c.Drop(context.Background(), key, tok); err != nil {
				t.Fatal(err)
			}
			return mustToken(t, c, key, f)
		}, "raw-access-token-002", 2},
		{"Drop with another (older) token keeps the fresh one", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			mustToken(t, c, key, f)
			if err := c.Drop(context.Background(), key, "raw-access-token-000"); err != nil {
				t.Fatal(err)
			}
			return mustToken(t, c, key, f)
		}, "raw-access-token-001", 1},
		{"Drop of \"\" forgets whatever is there", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			mustToken(t, c, key, f)
			if err := c.Drop(context.Background(), key, ""); err != nil {
				t.Fatal(err)
			}
			return mustToken(t, c, key, f)
		}, "raw-access-token-002", 2},
		{"Drop of an unknown key is no error", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			for _, tok := range []string{"", "x"} {
				if err := c.Drop(context.Background(), "nope:1:abc", tok); err != nil {
					t.Fatal(err)
				}
			}
			return mustToken(t, c, key, f)
		}, "raw-access-token-001", 1},
		{"a failed fetch caches nothing", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			f.err = errors.New("wecom down")
			if _, err := c.Token(context.Background(), key, f.fetch); err == nil {
				t.Fatal("no error from a failed fetch")
			}
			f.err = nil
			return mustToken(t, c, key, f)
		}, "raw-access-token-002", 2},
		{"200 concurrent cold callers fetch once", func(t *testing.T, s *models.Store, c *models.TokenCache, clk *tokenClock, f *fetcher) string {
			slow := func(ctx context.Context) (string, time.Duration, error) {
				time.Sleep(20 * time.Millisecond)
				return f.fetch(ctx)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for range 200 {
				wg.Go(func() {
					tok, err := c.Token(context.Background(), key, slow)
					if err == nil && tok != "raw-access-token-001" {
						err = fmt.Errorf("token %q", tok)
					}
					if err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			return mustToken(t, c, key, f)
		}, "raw-access-token-001", 1},
	}
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// DropTokens, not a raw DELETE: it also forgets this process's copy of the rows.
				if err := s.DropTokens(context.Background(), "ww1234567890abcdef", 1000002); err != nil {
					t.Fatal(err)
				}
				clk := &tokenClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
				c := models.NewTokenCache(s, mustSealer(t, keyNew), clk.now)
				f := &fetcher{life: time.Hour}
				if got := tt.run(t, s, c, clk, f); got != tt.want {
					t.Errorf("token %q, want %q", got, tt.want)
				}
				if n := f.calls.Load(); n != tt.wantFetchs {
					t.Errorf("fetched %d times, want %d", n, tt.wantFetchs)
				}
			})
		}
	})
}

func mustToken(t *testing.T, c *models.TokenCache, key string, f *fetcher) string {
	t.Helper()
	tok, err := c.Token(context.Background(), key, f.fetch)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestDropTokens: a settings change forgets every token of that corp/app, whatever the secret hash,
// and no other app's (agent 1000002 is not a prefix match of 10000021; LIKE wildcards are escaped).
func TestDropTokens(t *testing.T) {
	keys := []string{
		"wwaaaaaaaaaaaaaaaa:1000002:1111111111111111",
		"wwaaaaaaaaaaaaaaaa:1000002:2222222222222222",
		"wwaaaaaaaaaaaaaaaa:10000021:3333333333333333",
		"wwaaaaaaaaaaaaaaaa:1000003:4444444444444444",
		"wwbbbbbbbbbbbbbbbb:1000002:5555555555555555",
		"ww_aaaaaaaaaaaaaaa:1000002:6666666666666666",
	}
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		c := models.NewTokenCache(s, mustSealer(t, keyNew), time.Now)
		f := &fetcher{life: time.Hour}
		for _, k := range keys {
			mustToken(t, c, k, f)
		}
		if err := s.DropTokens(ctx, "wwaaaaaaaaaaaaaaaa", 1000002); err != nil {
			t.Fatal(err)
		}
		if err := s.DropTokens(ctx, "ww%", 1000002); err != nil { // matches no corp literally named ww%
			t.Fatal(err)
		}
		if err := s.DropTokens(ctx, "ww_bbbbbbbbbbbbbbb", 1000002); err != nil { // _ is not a wildcard
			t.Fatal(err)
		}
		before := f.calls.Load()
		for i, k := range keys {
			mustToken(t, c, k, f)
			refetched := f.calls.Load() > before
			before = f.calls.Load()
			if want := i < 2; refetched != want {
				t.Errorf("%s: fetched again = %v, want %v", k, refetched, want)
			}
		}
	})
}

// TestTokenSealedAtRest: the raw token is in no column of wecom_tokens, and the key holds no secret.
func TestTokenSealedAtRest(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		c := models.NewTokenCache(s, mustSealer(t, keyNew), time.Now)
		f := &fetcher{life: time.Hour}
		tok := mustToken(t, c, "ww1234567890abcdef:1000002:0123456789abcdef", f)
		// Every column as the database holds it (the table of models.WeComToken; DESIGN.md calls it
		// wecom_tokens).
		var rows []map[string]any
		if err := s.DB().Model(&models.WeComToken{}).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("rows: %v", rows)
		}
		for col, v := range rows[0] {
			if strings.Contains(fmt.Sprint(v), tok) || strings.Contains(fmt.Sprintf("%s", v), "raw-access-token") {
				t.Errorf("column %s holds the raw token", col)
			}
		}
		// A key sealed with another secret key is treated as missing, not as an error.
		other := models.NewTokenCache(s, mustSealer(t, keyOld), time.Now)
		if got := mustToken(t, other, "ww1234567890abcdef:1000002:0123456789abcdef", f); got != "raw-access-token-002" {
			t.Errorf("token under another key: %q", got)
		}
	})
}
