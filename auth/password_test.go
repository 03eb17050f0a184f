package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

var ctx = context.Background()

const rightPassword = "correct-horse-battery"

var (
	hashOnce sync.Once
	hash     string
)

// passwordHash hashes rightPassword once for the whole package, at bcrypt's lowest cost: verifying
// reads the cost from the hash, so the rules under test are the same and the suite stays fast (bcrypt
// at the production cost takes most of a second under the race detector).
func passwordHash(t *testing.T) *string {
	t.Helper()
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(rightPassword), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		hash = string(h)
	})
	h := hash
	return &h
}

func addUser(t *testing.T, s *models.Store, u models.User) models.User {
	t.Helper()
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func failures(t *testing.T, s *models.Store, target string) int64 {
	t.Helper()
	page, err := s.ListAudit(ctx, models.AuditFilter{Action: models.ActionSigninFailed, Target: target}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(page.Events))
}

func realNow() time.Time { return time.Now().UTC() }

func TestPasswordVerify(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		addUser(t, s, models.User{Username: "alice", PasswordHash: passwordHash(t)})
		addUser(t, s, models.User{Username: "nopass"})
		addUser(t, s, models.User{Username: "empty", PasswordHash: new(string)})
		addUser(t, s, models.User{Username: "gone", PasswordHash: passwordHash(t), Disabled: true})
		p := auth.NewPasswords(s, auth.DefaultThrottle(), realNow)
		tests := []struct {
			name, username, password string
			err                      error
			wantUser                 string
			failed                   string // target of the signin.failed row expected, "" for none
		}{
			{"right password signs in", "alice", rightPassword, nil, "alice", ""},
			{"username is case-insensitive", " ALICE ", rightPassword, nil, "alice", ""},
			{"wrong password is refused", "alice", "wrong-password", auth.ErrInvalidCredentials, "", "alice"},
			{"unknown user is refused the same way", "ghost", rightPassword, auth.ErrInvalidCredentials, "", "ghost"},
			{"user without password is refused the same way", "nopass", rightPassword, auth.ErrInvalidCredentials, "", "nopass"},
			{"user without password and empty password is refused", "nopass", "", auth.ErrInvalidCredentials, "", "nopass"},
			{"user with an empty hash is refused", "empty", "", auth.ErrInvalidCredentials, "", "empty"},
			{"disabled user with the right password is told so", "gone", rightPassword, auth.ErrUserDisabled, "gone", ""},
			{"disabled user with a wrong password learns nothing", "gone", "wrong-password", auth.ErrInvalidCredentials, "", "gone"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				target := models.NormalizeUsername(tt.username)
				before := failures(t, s, target)
				u, err := p.Verify(ctx, tt.username, tt.password, "192.0.2.1")
				if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("Verify: %v, want %v", err, tt.err)
				}
				if u.Username != tt.wantUser {
					t.Fatalf("Verify returned user %q, want %q", u.Username, tt.wantUser)
				}
				after := failures(t, s, target)
				if tt.failed != "" && after != before+1 {
					t.Fatalf("signin.failed rows for %q: %d → %d, want one more", target, before, after)
				}
				if tt.failed == "" && after != before {
					t.Fatalf("signin.failed rows for %q changed on %v", target, err)
				}
			})
		}
	})
}

func TestPasswordThrottlePerAccount(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		addUser(t, s, models.User{Username: "alice", PasswordHash: passwordHash(t)})
		addUser(t, s, models.User{Username: "bob", PasswordHash: passwordHash(t)})
		p := auth.NewPasswords(s, auth.Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 1000}, realNow)
		for i := range 5 {
			if _, err := p.Verify(ctx, "alice", "wrong", "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		var th *auth.ThrottledError
		_, err := p.Verify(ctx, "alice", rightPassword, "192.0.2.99")
		if !errors.As(err, &th) {
			t.Fatalf("sixth attempt with the right password from another IP: %v, want *ThrottledError", err)
		}
		if m := th.Minutes(); m < 1 || m > 15 {
			t.Fatalf("throttled for %d minutes, want between 1 and 15", m)
		}
		if _, err := p.Verify(ctx, "ALICE", rightPassword, "192.0.2.1"); !errors.As(err, &th) {
			t.Fatalf("the throttle is dodged by changing case: %v", err)
		}
		if _, err := p.Verify(ctx, "bob", rightPassword, "192.0.2.1"); err != nil {
			t.Fatalf("another account from the same IP is throttled too: %v", err)
		}
		later := auth.NewPasswords(s, auth.Throttle{Window: 15 * time.Minute, PerAccount: 5, PerIP: 1000},
			func() time.Time { return time.Now().UTC().Add(16 * time.Minute) })
		if _, err := later.Verify(ctx, "alice", rightPassword, "192.0.2.1"); err != nil {
			t.Fatalf("after the window, the right password still refused: %v", err)
		}
	})
}

func TestPasswordThrottlePerIP(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		for _, name := range []string{"alice", "guess1", "guess2", "guess3"} {
			addUser(t, s, models.User{Username: name, PasswordHash: passwordHash(t)})
		}
		p := auth.NewPasswords(s, auth.Throttle{Window: 15 * time.Minute, PerAccount: 100, PerIP: 3}, realNow)
		for _, name := range []string{"guess1", "guess2", "guess3"} {
			if _, err := p.Verify(ctx, name, "wrong", "198.51.100.7"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		var th *auth.ThrottledError
		if _, err := p.Verify(ctx, "alice", rightPassword, "198.51.100.7"); !errors.As(err, &th) || th.Minutes() < 1 {
			t.Fatalf("a fourth attempt from the guessing IP: %v, want *ThrottledError", err)
		}
		if _, err := p.Verify(ctx, "alice", rightPassword, "198.51.100.8"); err != nil {
			t.Fatalf("another IP is throttled too: %v", err)
		}
	})
}
