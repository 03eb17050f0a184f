// Package auth holds Gatehouse's sign-in rules, free of HTTP: password verification and throttling,
// resolving a WeCom identity to a user, and issuing and revoking sessions.
package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatehouse/models"
)

// Refusals of a password sign-in. Messages shown to people come from the handlers' translations.
var (
	// ErrInvalidCredentials covers unknown users, wrong passwords and users without a password alike,
	// so that the answer never tells which usernames exist.
	ErrInvalidCredentials = errors.New("invalid username or password")
	ErrUserDisabled       = errors.New("user is disabled")
)

// ThrottledError says that too many sign-ins failed recently and when to try again.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; retry in %s", e.Wait)
}

// Minutes is the wait rounded up to whole minutes, for messages.
func (e *ThrottledError) Minutes() int { return int(math.Ceil(e.Wait.Minutes())) }

// Throttle limits failed password sign-ins per account and per client IP within a sliding window.
type Throttle struct {
	Window     time.Duration
	PerAccount int64
	PerIP      int64
}

// DefaultThrottle allows 5 failures per account and 20 per IP in 15 minutes.
func DefaultThrottle() Throttle { return Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 20} }

// MinPasswordLength is the shortest password Gatehouse accepts.
const MinPasswordLength = 8

// bcryptCost balances brute-force cost against sign-in latency (~50 ms on a small server).
const bcryptCost = 10

// HashPassword hashes a password for storage.
func HashPassword(password string) (string, error) {
	if len(password) > 72 {
		return "", errors.New("password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Passwords verifies password sign-ins.
type Passwords struct {
	store    *models.Store
	throttle Throttle
	now      func() time.Time
	// dummyHash is compared against when the user is unknown, so that every failure costs the same.
	// It is made on first use, sparing start-up a bcrypt hash.
	dummyHash func() []byte
}

// NewPasswords builds the password verifier.
func NewPasswords(store *models.Store, throttle Throttle, now func() time.Time) *Passwords {
	dummy := sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("gatehouse-dummy-password"), bcryptCost)
		return h
	})
	return &Passwords{store: store, throttle: throttle, now: now, dummyHash: dummy}
}

// Verify checks a username and password. Failures are audited as signin.failed (which the throttle
// counts); it returns the user on success, else ErrInvalidCredentials, ErrUserDisabled or *ThrottledError.
func (p *Passwords) Verify(ctx context.Context, username, password, ip string) (models.User, error) {
	username = models.NormalizeUsername(username)
	if err := p.checkThrottle(ctx, username, ip); err != nil {
		return models.User{}, err
	}
	u, err := p.store.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return models.User{}, err
	}
	hash := p.dummyHash()
	if err == nil && u.HasPassword() {
		hash = []byte(*u.PasswordHash)
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if err != nil || !u.HasPassword() || !match {
		if aerr := p.store.Audit(ctx, models.Event{Action: models.ActionSigninFailed, Target: username, IP: ip, Detail: map[string]any{"outcome": "invalid_credentials"}}); aerr != nil {
			return models.User{}, aerr
		}
		return models.User{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return u, ErrUserDisabled
	}
	return u, nil
}

func (p *Passwords) checkThrottle(ctx context.Context, username, ip string) error {
	since := p.now().Add(-p.throttle.Window)
	checks := []struct {
		target, ip string
		limit      int64
	}{
		{username, "", p.throttle.PerAccount},
		{"", ip, p.throttle.PerIP},
	}
	for _, c := range checks {
		n, oldest, err := p.store.Failures(ctx, models.ActionSigninFailed, c.target, c.ip, since)
		if err != nil {
			return fmt.Errorf("check sign-in throttle: %w", err)
		}
		if n >= c.limit {
			return &ThrottledError{Wait: oldest.Add(p.throttle.Window).Sub(p.now())}
		}
	}
	return nil
}
