package wecom

import (
	"context"
	"sync"
	"time"
)

// TokenCache keeps one access_token per app (Config.CacheKey), shared by every instance of the
// app. The database store implements it; MemoryCache serves tests and single-process use.
type TokenCache interface {
	// Token returns a valid cached token for key, or calls fetch (at most one caller per key at a
	// time across instances: the DB implementation holds a row lock) and stores its result.
	// The expiresIn that fetch returns already has the client's safety margin taken off: store
	// it as is.
	Token(ctx context.Context, key string, fetch func(ctx context.Context) (token string, expiresIn time.Duration, err error)) (string, error)
	// Drop forgets key's token if it still equals token ("" drops whatever is there).
	Drop(ctx context.Context, key, token string) error
}

// MemoryCache is a TokenCache in process memory. It is safe for concurrent use and fetches at
// most once at a time per key.
type MemoryCache struct {
	now func() time.Time

	mu    sync.Mutex
	slots map[string]*memorySlot
}

// memorySlot has its own lock so a slow fetch for one app does not block the others.
type memorySlot struct {
	mu        sync.Mutex
	token     string
	expiresAt time.Time
}

// NewMemoryCache returns an empty MemoryCache on the wall clock.
func NewMemoryCache() *MemoryCache {
	return NewMemoryCacheWithClock(time.Now)
}

// NewMemoryCacheWithClock returns an empty MemoryCache that reads time from now, so tests can
// age tokens.
func NewMemoryCacheWithClock(now func() time.Time) *MemoryCache {
	return &MemoryCache{now: now, slots: make(map[string]*memorySlot)}
}

func (m *MemoryCache) slot(key string) *memorySlot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.slots[key]
	if !ok {
		s = &memorySlot{}
		m.slots[key] = s
	}
	return s
}

// Token implements TokenCache.
func (m *MemoryCache) Token(ctx context.Context, key string, fetch func(ctx context.Context) (string, time.Duration, error)) (string, error) {
	s := m.slot(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && m.now().Before(s.expiresAt) {
		return s.token, nil
	}
	token, expiresIn, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.expiresAt = token, m.now().Add(expiresIn)
	return token, nil
}

// Drop implements TokenCache.
func (m *MemoryCache) Drop(_ context.Context, key, token string) error {
	s := m.slot(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if token == "" || s.token == token {
		s.token, s.expiresAt = "", time.Time{}
	}
	return nil
}
