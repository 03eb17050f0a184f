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

// Throttle limits failed password sign-ins within a sliding window: per account and source (a browser
// or address that signed in to the account before has an allowance of its own, every other source
// shares the account's), and per client IP.
type Throttle struct {
	Window     time.Duration
	PerAccount int64
	PerIP      int64
	// KnownIPFor is how long an address that signed in to an account keeps its own allowance there.
	KnownIPFor time.Duration
}

// DefaultThrottle allows 5 failures per account and source and 20 per IP in 15 minutes.
func DefaultThrottle() Throttle {
	return Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 20, KnownIPFor: 30 * 24 * time.Hour}
}

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
	devices  *Devices
	// dummyHash is compared against when the user is unknown, so that every failure costs the same.
	// It is made on first use, sparing start-up a bcrypt hash.
	dummyHash func() []byte
}

// NewPasswords builds the password verifier. Its device cookies use a random key until WithDevices
// gives it the deployment's (shared by every instance and restart).
func NewPasswords(store *models.Store, throttle Throttle, now func() time.Time) *Passwords {
	dummy := sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("gatehouse-dummy-password"), bcryptCost)
		return h
	})
	if throttle.KnownIPFor == 0 {
		throttle.KnownIPFor = DefaultThrottle().KnownIPFor
	}
	return &Passwords{store: store, throttle: throttle, now: now, dummyHash: dummy, devices: NewDevices(nil, nil, false)}
}

// WithDevices sets the device cookie's keys (derived from the secret key) and Secure flag.
func (p *Passwords) WithDevices(d *Devices) *Passwords {
	p.devices = d
	return p
}

// Devices returns the device cookie codec, for the handlers to read and set the cookie.
func (p *Passwords) Devices() *Devices { return p.devices }

// Source is where a sign-in attempt comes from.
type Source struct {
	IP     string
	Device Device // the request's device cookie; zero when it has none
}

// Verify checks a username and password from an address, without a device cookie; see VerifyFrom.
func (p *Passwords) Verify(ctx context.Context, username, password, ip string) (models.User, error) {
	return p.VerifyFrom(ctx, username, password, Source{IP: ip})
}

// VerifyFrom checks a username and password. The attempt is recorded before the password is checked,
// so parallel guesses are counted too; failures keep counting and are audited as signin.failed. It
// returns the user on success, else ErrInvalidCredentials, ErrUserDisabled or *ThrottledError.
func (p *Passwords) VerifyFrom(ctx context.Context, username, password string, src Source) (models.User, error) {
	username = models.NormalizeUsername(username)
	now := p.now()
	bucket, err := p.bucket(ctx, username, src, now)
	if err != nil {
		return models.User{}, err
	}
	attempt, err := p.store.BeginAttempt(ctx, username, src.IP, bucket, now)
	if err != nil {
		return models.User{}, err
	}
	if err := p.checkThrottle(ctx, attempt, now); err != nil {
		return models.User{}, err
	}
	u, ok, err := p.check(ctx, username, password)
	if err != nil {
		return models.User{}, err
	}
	if !ok {
		return models.User{}, p.failed(ctx, username, src.IP)
	}
	if err := p.store.EndAttempt(ctx, attempt.ID); err != nil {
		return models.User{}, err
	}
	if u.Disabled {
		return u, ErrUserDisabled
	}
	return u, nil
}

// bucket picks whose allowance an attempt uses: the browser's, when its device cookie names the
// account; else the address's, when it signed in to the account lately; else the account's shared
// one. The address lookup runs for unknown usernames too, so both cost the same.
func (p *Passwords) bucket(ctx context.Context, username string, src Source, now time.Time) (string, error) {
	if src.Device.Knows(username) {
		return "d:" + src.Device.ID, nil
	}
	known, err := p.store.SignedInFrom(ctx, username, src.IP, now.Add(-p.throttle.KnownIPFor))
	if err != nil {
		return "", fmt.Errorf("check sign-in throttle: %w", err)
	}
	if known {
		return "ip:" + src.IP, nil
	}
	return "", nil
}

// check compares the password with the user's hash, or with a dummy hash when there is no such user
// (or no password), so that every failure costs one bcrypt comparison.
func (p *Passwords) check(ctx context.Context, username, password string) (models.User, bool, error) {
	var u models.User
	err := models.ErrNotFound
	if models.ValidUsername(username) { // anything else names nobody; it never reaches a query
		u, err = p.store.UserByUsername(ctx, username)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return u, false, err
		}
	}
	hash := p.dummyHash()
	if err == nil && u.HasPassword() {
		hash = []byte(*u.PasswordHash)
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return u, err == nil && u.HasPassword() && match, nil
}

// failed audits a failed attempt (its attempt row stays and counts) and returns ErrInvalidCredentials,
// joined with models.ErrAuditSuppressed when the anonymous audit cap left the row out.
func (p *Passwords) failed(ctx context.Context, username, ip string) error {
	res, err := p.store.Record(ctx, models.Event{Action: models.ActionSigninFailed, Target: username, IP: ip, Detail: map[string]any{"outcome": "invalid_credentials"}})
	if err != nil {
		return err
	}
	if res != models.AuditWritten {
		return errors.Join(ErrInvalidCredentials, models.ErrAuditSuppressed)
	}
	return ErrInvalidCredentials
}

// checkThrottle counts the attempt's allowances, its own attempt included; over a limit, the attempt
// is withdrawn (a refused attempt does not extend the lock) and refused.
func (p *Passwords) checkThrottle(ctx context.Context, a models.SigninAttempt, now time.Time) error {
	if a.ID%64 == 0 { // now and then, forget attempts no window can see
		if err := p.store.DeleteAttemptsBefore(ctx, now.Add(-p.throttle.Window)); err != nil {
			return err
		}
	}
	c, err := p.store.CountAttempts(ctx, a, now.Add(-p.throttle.Window))
	if err != nil {
		return fmt.Errorf("check sign-in throttle: %w", err)
	}
	overAccount := c.Account > p.throttle.PerAccount
	if !overAccount && c.IP <= p.throttle.PerIP {
		return nil
	}
	if err := p.store.EndAttempt(ctx, a.ID); err != nil {
		return err
	}
	oldest, err := p.store.OldestAttempt(ctx, a, !overAccount, now.Add(-p.throttle.Window))
	if err != nil {
		return fmt.Errorf("check sign-in throttle: %w", err)
	}
	wait := oldest.Add(p.throttle.Window).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return &ThrottledError{Wait: wait}
}
