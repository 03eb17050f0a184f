package wecom

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// CodeBreakerOpen means the client did not call WeCom at all: recent calls to the same API host and
// corp failed one after another (unreachable, hanging, -1, 45009 or 45033), so calls are paused for a while
// instead of making every member wait for yet another timeout.
const CodeBreakerOpen = -4

// Breaker settings: after breakerThreshold consecutive failures the breaker opens for breakerOpenFor;
// then one call is let through (half-open), and its result closes or reopens the breaker.
const (
	breakerThreshold = 5
	breakerOpenFor   = 30 * time.Second
)

// BreakerSettings tunes the circuit breaker (tests shorten it).
type BreakerSettings struct {
	Threshold int           // consecutive failures that open it (0: 5)
	OpenFor   time.Duration // how long it stays open before one trial call (0: 30 s)
	Now       func() time.Time
	// OnOpen is called each time a breaker opens (a metric), with the API base and the corp id.
	OnOpen func(apiBase, corpID string)
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// breakers keeps one circuit breaker per API base and corp: a failing private deployment or corp does
// not pause calls to another.
type breakers struct {
	settings BreakerSettings

	mu  sync.Mutex
	all map[string]*breaker
}

type breaker struct {
	state     breakerState
	failures  int
	openUntil time.Time
	probing   bool // half-open: the one trial call is under way
}

func newBreakers(s BreakerSettings) *breakers {
	if s.Threshold <= 0 {
		s.Threshold = breakerThreshold
	}
	if s.OpenFor <= 0 {
		s.OpenFor = breakerOpenFor
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &breakers{settings: s, all: map[string]*breaker{}}
}

// breakerKey names the breaker of an app's API host and corp (every agent of a corp shares a host's fate).
func breakerKey(apiBase, corpID string) string {
	base := strings.TrimRight(apiBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	return base + " " + corpID
}

// allow reports whether a call may go to WeCom now. In the half-open state only one call at a time
// is let through; probe tells the caller it holds that turn.
func (bs *breakers) allow(key string) (ok, probe bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.all[key]
	if b == nil {
		return true, false
	}
	switch b.state {
	case breakerOpen:
		if bs.settings.Now().Before(b.openUntil) {
			return false, false
		}
		b.state = breakerHalfOpen
		fallthrough
	case breakerHalfOpen:
		if b.probing {
			return false, false
		}
		b.probing = true
		return true, true
	}
	return true, false
}

// record notes how a call that was let through ended.
func (bs *breakers) record(key string, probe bool, err error) {
	fault, neutral := breakerFault(err)
	bs.mu.Lock()
	b := bs.all[key]
	if b == nil {
		if !fault {
			bs.mu.Unlock()
			return // the common case: a healthy host costs no map entry
		}
		b = &breaker{}
		bs.all[key] = b
	}
	if probe {
		b.probing = false
	}
	var opened bool
	switch {
	case neutral:
		// The caller gave up: says nothing about WeCom. A half-open breaker waits for another trial.
	case !fault:
		delete(bs.all, key)
	case b.state == breakerHalfOpen:
		b.state, b.openUntil = breakerOpen, bs.settings.Now().Add(bs.settings.OpenFor)
		opened = true
	case b.state == breakerClosed:
		b.failures++
		if b.failures >= bs.settings.Threshold {
			b.state, b.openUntil = breakerOpen, bs.settings.Now().Add(bs.settings.OpenFor)
			opened = true
		}
	}
	bs.mu.Unlock()
	if opened && bs.settings.OnOpen != nil {
		base, corp, _ := strings.Cut(key, " ")
		bs.settings.OnOpen(base, corp)
	}
}

// isOpen reports whether calls to the host and corp are paused now (for the admin dashboard).
func (bs *breakers) isOpen(key string) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.all[key]
	// Past its open time it still counts as open: only a call that succeeds shows WeCom is back.
	return b != nil && b.state != breakerClosed
}

// breakerFault sorts a call's outcome: fault (WeCom down, hanging, busy or rate-limiting) counts
// towards opening; neutral (the member's request was cancelled) counts neither way; anything else,
// success or a business errcode, shows WeCom answering and closes the breaker.
func breakerFault(err error) (fault, neutral bool) {
	if err == nil {
		return false, false
	}
	if errors.Is(err, context.Canceled) {
		return false, true
	}
	switch CodeOf(err) {
	case CodeUnreachable, CodeBadResponse, -1, 45009, 45033:
		return true, false
	case 0:
		// Not a WeCom answer at all (the shared token cache failed): no verdict on WeCom.
		return false, true
	}
	return false, false
}
