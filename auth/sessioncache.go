package auth

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/models"
)

// SessionCache remembers, for at most its TTL (≤ 1 s), which session cookie belongs to which signed-in
// user, for forward-auth checks only: a page load through the proxy asks once per asset, and the
// database is then asked once per second per browser instead of once per request.
//
// Revocation stays within DESIGN.md §8: every state-changing request on this instance (sign-out, an
// admin disabling a user or signing them out everywhere, a leaver's event) calls Invalidate, which
// empties the cache, so this instance refuses at the next check; other instances forget within TTL.
type SessionCache struct {
	sessions *Sessions
	ttl      time.Duration
	gen      atomic.Uint64
	mu       sync.Mutex
	entries  map[[32]byte]cachedSession
}

type cachedSession struct {
	user    models.User
	session models.Session
	ok      bool // false: the cookie names no live session (cached too, so a stale cookie costs the same)
	at      time.Time
	gen     uint64
}

// maxCachedSessions bounds the cache; past it, it starts again empty.
const maxCachedSessions = 10000

// NewSessionCache builds a cache over s holding answers for ttl (use at most one second).
func NewSessionCache(s *Sessions, ttl time.Duration) *SessionCache {
	return &SessionCache{sessions: s, ttl: ttl, entries: map[[32]byte]cachedSession{}}
}

// Invalidate forgets every cached answer: something on this instance may have ended a session.
func (c *SessionCache) Invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// Current returns the signed-in user of the request's session cookie, from the cache when the answer
// is fresh, else from Sessions (one database lookup).
func (c *SessionCache) Current(r *http.Request) (models.User, models.Session, bool, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return models.User{}, models.Session{}, false, nil
	}
	key := sha256.Sum256([]byte(ck.Value)) // a fixed-size key, however long the cookie
	gen := c.gen.Load()
	now := time.Now()
	c.mu.Lock()
	e, hit := c.entries[key]
	c.mu.Unlock()
	if hit && e.gen == gen && now.Sub(e.at) < c.ttl && (!e.ok || e.session.ExpiresAt.After(c.sessions.now())) {
		return e.user, e.session, e.ok, nil
	}
	u, s, ok, err := c.sessions.Current(r)
	if err != nil {
		return u, s, ok, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedSessions {
		clear(c.entries)
	}
	if c.gen.Load() == gen { // not if a revocation happened meanwhile: the answer may predate it
		c.entries[key] = cachedSession{user: u, session: s, ok: ok, at: now, gen: gen}
	}
	c.mu.Unlock()
	return u, s, ok, nil
}
