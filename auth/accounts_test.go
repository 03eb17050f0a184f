package auth_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

func TestAccountsCreateValidation(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := auth.NewAccounts(s, realNow)
		addUser(t, s, models.User{Username: "alice", Mobile: ptr("+8613800000001")})
		tests := []struct {
			name string
			in   auth.UserInput
			want auth.Invalid
		}{
			{"username is required", auth.UserInput{Username: "  "}, auth.Invalid{"username": "required"}},
			{"username with spaces and symbols", auth.UserInput{Username: "bad name!"}, auth.Invalid{"username": "username"}},
			{"username longer than 64", auth.UserInput{Username: strings.Repeat("a", 65)}, auth.Invalid{"username": "username"}},
			{"taken username", auth.UserInput{Username: "alice"}, auth.Invalid{"username": "username_taken"}},
			{"taken username in another case", auth.UserInput{Username: "Alice"}, auth.Invalid{"username": "username_taken"}},
			{"nickname too long", auth.UserInput{Username: "bob", Nickname: strings.Repeat("n", 129)}, auth.Invalid{"nickname": "too_long"}},
			{"email without @", auth.UserInput{Username: "bob", Email: "not-an-email"}, auth.Invalid{"email": "email"}},
			{"email with a display name", auth.UserInput{Username: "bob", Email: "Bob <bob@example.com>"}, auth.Invalid{"email": "email"}},
			{"mobile that is not a number", auth.UserInput{Username: "bob", Mobile: "call me"}, auth.Invalid{"mobile": "mobile"}},
			{"mobile taken by another user, written differently", auth.UserInput{Username: "bob", Mobile: "+86 138-0000-0001"}, auth.Invalid{"mobile": "mobile_taken"}},
			{"password shorter than 8", auth.UserInput{Username: "bob", Password: "short"}, auth.Invalid{"password": "password_short"}},
			{"password longer than 72 bytes", auth.UserInput{Username: "bob", Password: strings.Repeat("p", 73)}, auth.Invalid{"password": "password_long"}},
			{"every problem at once", auth.UserInput{Username: "", Email: "x", Mobile: "y", Password: "z"},
				auth.Invalid{"username": "required", "email": "email", "mobile": "mobile", "password": "password_short"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _ := s.CountUsers(ctx)
				_, err := a.Create(ctx, tt.in)
				var bad auth.Invalid
				if !errors.As(err, &bad) || !reflect.DeepEqual(bad, tt.want) {
					t.Fatalf("Create: %v, want %v", err, tt.want)
				}
				if after, _ := s.CountUsers(ctx); after != before {
					t.Fatal("a refused user was created")
				}
			})
		}
	})
}

func TestAccountsCreate(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := auth.NewAccounts(s, realNow)
		u, err := a.Create(ctx, auth.UserInput{Username: " Bob.Smith ", Nickname: " Bob ", Email: "bob@example.com", Mobile: "138 0000 0002", Password: rightPassword, IsAdmin: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != "bob.smith" || got.Nickname != "Bob" || got.MobileString() != "+8613800000002" || !got.IsAdmin || got.Disabled {
			t.Fatalf("stored user: %+v", got)
		}
		if got.PasswordHash == nil || bcrypt.CompareHashAndPassword([]byte(*got.PasswordHash), []byte(rightPassword)) != nil {
			t.Fatal("the stored hash does not match the password given at creation")
		}
		noPass, err := a.Create(ctx, auth.UserInput{Username: "carol"})
		if err != nil || noPass.HasPassword() || noPass.Mobile != nil {
			t.Fatalf("user without password or mobile: %+v %v", noPass, err)
		}
	})
}

func TestAccountsUpdate(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := auth.NewAccounts(s, realNow)
		root := addUser(t, s, models.User{Username: "root", IsAdmin: true, PasswordHash: passwordHash(t)})
		addUser(t, s, models.User{Username: "retired", IsAdmin: true, Disabled: true})
		member := addUser(t, s, models.User{Username: "member", Mobile: ptr("+8613800000003")})
		keep := func(u models.User) auth.UserInput {
			return auth.UserInput{Nickname: u.Nickname, Email: u.Email, Mobile: u.MobileString(), IsAdmin: u.IsAdmin, Disabled: u.Disabled}
		}
		t.Run("the last active admin cannot be demoted", func(t *testing.T) {
			in := keep(root)
			in.IsAdmin = false
			_, err := a.Update(ctx, root.ID, in)
			var bad auth.Invalid
			if !errors.As(err, &bad) || bad["is_admin"] != "last_admin" {
				t.Fatalf("Update: %v, want is_admin: last_admin", err)
			}
			if got, _ := s.UserByID(ctx, root.ID); !got.IsAdmin {
				t.Fatal("the last admin was demoted anyway")
			}
		})
		t.Run("the last active admin cannot be disabled", func(t *testing.T) {
			in := keep(root)
			in.Disabled = true
			_, err := a.Update(ctx, root.ID, in)
			var bad auth.Invalid
			if !errors.As(err, &bad) || bad["disabled"] != "last_admin" {
				t.Fatalf("Update: %v, want disabled: last_admin", err)
			}
			if got, _ := s.UserByID(ctx, root.ID); got.Disabled {
				t.Fatal("the last admin was disabled anyway")
			}
		})
		t.Run("another user's mobile is refused", func(t *testing.T) {
			in := keep(root)
			in.Mobile = "13800000003"
			_, err := a.Update(ctx, root.ID, in)
			var bad auth.Invalid
			if !errors.As(err, &bad) || bad["mobile"] != "mobile_taken" {
				t.Fatalf("Update: %v, want mobile: mobile_taken", err)
			}
		})
		t.Run("a member keeps their own mobile", func(t *testing.T) {
			in := keep(member)
			in.Nickname, in.Email = "Mem", "mem@example.com"
			got, err := a.Update(ctx, member.ID, in)
			if err != nil || got.Nickname != "Mem" || got.Email != "mem@example.com" || got.MobileString() != "+8613800000003" {
				t.Fatalf("Update: %+v %v", got, err)
			}
		})
		t.Run("clearing the mobile stores none", func(t *testing.T) {
			in := keep(member)
			in.Mobile = ""
			if got, err := a.Update(ctx, member.ID, in); err != nil || got.Mobile != nil {
				t.Fatalf("Update: %+v %v", got.Mobile, err)
			}
		})
		t.Run("an empty password keeps the current one", func(t *testing.T) {
			if _, err := a.Update(ctx, root.ID, keep(root)); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.UserByID(ctx, root.ID); got.PasswordHash == nil || *got.PasswordHash != *root.PasswordHash {
				t.Fatal("the password changed on an edit without a password")
			}
		})
		t.Run("disabling a member ends their sessions", func(t *testing.T) {
			now := time.Now().UTC()
			for _, id := range []string{"m1", "m2"} {
				if err := s.CreateSession(ctx, &models.Session{ID: id, UserID: member.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			in := keep(member)
			in.Disabled = true
			if _, err := a.Update(ctx, member.ID, in); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"m1", "m2"} {
				if _, _, err := s.ActiveSession(ctx, id, now); !errors.Is(err, models.ErrNotFound) {
					t.Fatalf("session %s still active after disabling: %v", id, err)
				}
			}
		})
		t.Run("with a second admin the first can be demoted", func(t *testing.T) {
			in := keep(member)
			in.Disabled, in.IsAdmin = false, true
			if _, err := a.Update(ctx, member.ID, in); err != nil {
				t.Fatal(err)
			}
			in = keep(root)
			in.IsAdmin = false
			if got, err := a.Update(ctx, root.ID, in); err != nil || got.IsAdmin {
				t.Fatalf("demote with another admin: %+v %v", got.IsAdmin, err)
			}
		})
		t.Run("an unknown user is not found", func(t *testing.T) {
			if _, err := a.Update(ctx, 99999, auth.UserInput{}); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("Update: %v, want ErrNotFound", err)
			}
		})
	})
}

func ptr[T any](v T) *T { return &v }

// Two admins demoting (or disabling) each other at the same moment: exactly one change wins and one
// active admin remains. Several rounds, since a race is a matter of timing.
func TestSecurityLastAdminRace(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := auth.NewAccounts(s, realNow)
		x := addUser(t, s, models.User{Username: "x", IsAdmin: true})
		y := addUser(t, s, models.User{Username: "y", IsAdmin: true})
		changes := []struct {
			name string
			in   func(u models.User) auth.UserInput
		}{
			{"demote", func(u models.User) auth.UserInput { return auth.UserInput{Nickname: u.Nickname, IsAdmin: false} }},
			{"disable", func(u models.User) auth.UserInput {
				return auth.UserInput{Nickname: u.Nickname, IsAdmin: true, Disabled: true}
			}},
		}
		for _, ch := range changes {
			t.Run(ch.name, func(t *testing.T) {
				for round := range 8 {
					for _, u := range []*models.User{&x, &y} {
						u.IsAdmin, u.Disabled = true, false
						if err := s.SaveUser(ctx, u); err != nil {
							t.Fatal(err)
						}
					}
					errs := make([]error, 2)
					var wg sync.WaitGroup
					for i, u := range []models.User{x, y} {
						wg.Go(func() { _, errs[i] = a.Update(ctx, u.ID, ch.in(u)) })
					}
					wg.Wait()
					ok := 0
					for _, err := range errs {
						var bad auth.Invalid
						switch {
						case err == nil:
							ok++
						case !errors.As(err, &bad):
							t.Fatalf("round %d: %v, want success or a field error", round, err)
						}
					}
					admins, err := s.CountActiveAdmins(ctx, 0)
					if err != nil {
						t.Fatal(err)
					}
					if ok != 1 || admins != 1 {
						t.Fatalf("round %d: %d changes succeeded and %d active admins remain, want 1 and 1", round, ok, admins)
					}
				}
			})
		}
	})
}
