package models

import (
	"sync"
	"time"
)

// authenticatorCacheTTL bounds how long another instance may show an authenticator list that an
// administrator changed elsewhere; changes made through this Store are seen at once.
const authenticatorCacheTTL = time.Second

// authenticatorCache keeps the enabled authenticators for a moment: the sign-in page and auto login
// read them on every request, administrators change them rarely.
type authenticatorCache struct {
	mu      sync.Mutex
	list    []Authenticator
	fetched time.Time
}

func (c *authenticatorCache) get(now time.Time) ([]Authenticator, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list == nil || now.Sub(c.fetched) >= authenticatorCacheTTL {
		return nil, false
	}
	return append([]Authenticator(nil), c.list...), true
}

func (c *authenticatorCache) put(list []Authenticator, fetched time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list, c.fetched = append([]Authenticator{}, list...), fetched
}

func (c *authenticatorCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = nil
}
