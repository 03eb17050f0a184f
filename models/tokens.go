package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TokenCache keeps WeCom access tokens in the wecom_tokens table, sealed, shared by every instance. A
// refresh happens under a row lock (SELECT … FOR UPDATE on PostgreSQL; on SQLite, which serves one
// instance, a lock in this process), so a fleet fetches one token per expiry. It implements wecom.TokenCache.
type TokenCache struct {
	store  *Store
	sealer *Sealer
	now    func() time.Time
	locks  sync.Map // cache key → *sync.Mutex: SQLite's refresh lock (see tokenSQLite)
	// mem spares a database read on every sign-in: cache key → memToken, this process's copy of the
	// shared row. DropTokens invalidates every copy by moving the store's token generation on. A
	// token another instance dropped is still used here until WeCom rejects it (40014 or 42001); the
	// client then calls Drop, which clears this copy, and the row is read again.
	mem sync.Map
}

type memToken struct {
	token   string
	expires time.Time
	gen     int64
}

func (c *TokenCache) remember(key, token string, expires time.Time) {
	c.mem.Store(key, memToken{token, expires, c.store.tokenGen.Load()})
}

// NewTokenCache builds the cache.
func NewTokenCache(store *Store, sealer *Sealer, now func() time.Time) *TokenCache {
	return &TokenCache{store: store, sealer: sealer, now: now}
}

// Token returns the cached token for key, or fetches and stores one while holding the row lock.
func (c *TokenCache) Token(ctx context.Context, key string, fetch func(ctx context.Context) (string, time.Duration, error)) (string, error) {
	if v, ok := c.mem.Load(key); ok {
		if m := v.(memToken); m.gen == c.store.tokenGen.Load() && c.now().Before(m.expires) {
			return m.token, nil
		}
	}
	if tok, ok, err := c.cached(ctx, c.store.q(ctx), key); err != nil || ok {
		return tok, err
	}
	if c.store.dialect != "postgres" {
		return c.tokenSQLite(ctx, key, fetch)
	}
	var token string
	err := c.store.InTx(ctx, func(tx *Store) error {
		// Make sure a row exists to lock, then lock it; whoever waited on the lock finds the fresh token.
		if err := tx.q(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&WeComToken{CacheKey: key, ExpiresAt: time.Unix(0, 0).UTC(), RefreshedAt: time.Unix(0, 0).UTC()}).Error; err != nil {
			return fmt.Errorf("token row %s: %w", key, err)
		}
		tok, ok, err := c.cached(ctx, tx.forUpdate(ctx), key)
		if err != nil || ok {
			token = tok
			return err
		}
		tok, expiresIn, err := fetch(ctx)
		if err != nil {
			return err
		}
		sealed, err := c.sealer.Seal(tok, WeComTokenFor(key))
		if err != nil {
			return err
		}
		now := c.now()
		err = tx.q(ctx).Model(&WeComToken{}).Where("cache_key = ?", key).
			UpdateColumns(map[string]any{"token_sealed": sealed, "expires_at": now.Add(expiresIn), "refreshed_at": now}).Error
		if err == nil {
			c.remember(key, tok, now.Add(expiresIn))
		}
		token = tok
		return notFound(err, "store token "+key)
	})
	return token, err
}

// tokenSQLite refreshes key's token on SQLite. An immediate transaction there takes the database's
// single write lock, and holding it across the call to WeCom (up to the client's 5 s when WeCom is
// slow) would stall every other write: password sign-ins, sessions, audit. So refreshes are
// serialised by a lock in this process instead (a SQLite file serves one instance), and the token is
// written afterwards in a short statement of its own.
func (c *TokenCache) tokenSQLite(ctx context.Context, key string, fetch func(ctx context.Context) (string, time.Duration, error)) (string, error) {
	mu, _ := c.locks.LoadOrStore(key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if tok, ok, err := c.cached(ctx, c.store.q(ctx), key); err != nil || ok {
		return tok, err
	}
	tok, expiresIn, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	sealed, err := c.sealer.Seal(tok, WeComTokenFor(key))
	if err != nil {
		return "", err
	}
	now := c.now()
	row := WeComToken{CacheKey: key, TokenSealed: sealed, ExpiresAt: now.Add(expiresIn), RefreshedAt: now}
	err = c.store.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "cache_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"token_sealed", "expires_at", "refreshed_at"}),
	}).Create(&row).Error
	if err != nil {
		return "", fmt.Errorf("store token %s: %w", key, err)
	}
	c.remember(key, tok, row.ExpiresAt)
	return tok, nil
}

// cached reads a still-valid token for key.
func (c *TokenCache) cached(ctx context.Context, q *gorm.DB, key string) (string, bool, error) {
	var row WeComToken
	err := q.Where("cache_key = ?", key).First(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read token %s: %w", key, err)
	}
	if row.TokenSealed == "" || !c.now().Before(row.ExpiresAt) {
		return "", false, nil
	}
	tok, err := c.sealer.Open(row.TokenSealed, WeComTokenFor(key))
	if err != nil {
		return "", false, nil // sealed with a key no longer known, or for another key: fetch a new one
	}
	c.remember(key, tok, row.ExpiresAt)
	return tok, true, nil
}

// Drop forgets key's token if it still equals token ("" drops whatever is there).
func (c *TokenCache) Drop(ctx context.Context, key, token string) error {
	defer c.mem.Delete(key) // after the reads below, which refresh it

	if token == "" {
		err := c.store.q(ctx).Model(&WeComToken{}).Where("cache_key = ?", key).UpdateColumn("token_sealed", "").Error
		return notFound(err, "drop token "+key)
	}
	return c.store.InTx(ctx, func(tx *Store) error {
		tok, ok, err := c.cached(ctx, tx.q(ctx), key)
		if err != nil || !ok || tok != token {
			return err
		}
		err = tx.q(ctx).Model(&WeComToken{}).Where("cache_key = ?", key).UpdateColumn("token_sealed", "").Error
		return notFound(err, "drop token "+key)
	})
}

// DropTokens forgets every cached token of one corp/app, whatever its secret (after a settings change).
func (s *Store) DropTokens(ctx context.Context, corpID string, agentID int64) error {
	prefix := fmt.Sprintf("%s:%d:", corpID, agentID)
	s.tokenGen.Add(1)
	err := s.q(ctx).Where("cache_key LIKE ? ESCAPE '\\'", escapeLike(prefix)+"%").Delete(&WeComToken{}).Error
	return notFound(err, "drop tokens of "+prefix)
}
