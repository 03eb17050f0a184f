package models_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

var ctx = context.Background()

func ptr[T any](v T) *T { return &v }

func createUser(t *testing.T, s *models.Store, u models.User) models.User {
	t.Helper()
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatalf("create user %q: %v", u.Username, err)
	}
	return u
}

func TestUserCRUD(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		u := createUser(t, s, models.User{Username: "  Alice ", Nickname: "Alice", Email: "alice@example.com", Mobile: ptr("+8613800000001")})
		if u.ID == 0 || u.Username != "alice" {
			t.Fatalf("created user id=%d username=%q; want an id and the lower-cased username", u.ID, u.Username)
		}
		got, err := s.UserByUsername(ctx, "ALICE")
		if err != nil || got.ID != u.ID {
			t.Fatalf("lookup by username is not case-insensitive: %v %v", got.ID, err)
		}
		if got, err := s.UserByMobile(ctx, "+8613800000001"); err != nil || got.ID != u.ID {
			t.Fatalf("lookup by mobile: %v %v", got.ID, err)
		}
		got.Nickname = "Alice L."
		got.Mobile = nil
		if err := s.SaveUser(ctx, &got); err != nil {
			t.Fatal(err)
		}
		again, err := s.UserByID(ctx, u.ID)
		if err != nil || again.Nickname != "Alice L." || again.Mobile != nil {
			t.Fatalf("after save: %+v %v", again, err)
		}
		if _, err := s.UserByID(ctx, u.ID+1000); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("missing user: %v, want ErrNotFound", err)
		}
		if _, err := s.UserByUsername(ctx, "nobody"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("missing username: %v, want ErrNotFound", err)
		}
		before := time.Now().UTC().Add(-time.Second)
		if err := s.MarkSignedIn(ctx, u.ID, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.UserByID(ctx, u.ID); again.LastSigninAt == nil || again.LastSigninAt.Before(before) {
			t.Fatalf("last_signin_at not recorded: %v", again.LastSigninAt)
		}
	})
}

func TestUserUniqueness(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := createUser(t, s, models.User{Username: "alice", Mobile: ptr("+8613800000001")})
		createUser(t, s, models.User{Username: "bob"})
		createUser(t, s, models.User{Username: "carol"}) // a second user without mobile is fine (NULL is not unique)
		tests := []struct {
			name string
			u    models.User
		}{
			{"same username is a conflict", models.User{Username: "alice"}},
			{"same username in other case is a conflict", models.User{Username: "ALICE"}},
			{"same mobile is a conflict", models.User{Username: "dave", Mobile: ptr("+8613800000001")}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := tt.u
				if err := s.CreateUser(ctx, &u); !errors.Is(err, models.ErrConflict) {
					t.Fatalf("CreateUser: %v, want ErrConflict", err)
				}
			})
		}
		bob, _ := s.UserByUsername(ctx, "bob")
		bob.Mobile = a.Mobile
		if err := s.SaveUser(ctx, &bob); !errors.Is(err, models.ErrConflict) {
			t.Fatalf("saving another user's mobile: %v, want ErrConflict", err)
		}
		if taken, err := s.UsernameTaken(ctx, "Alice", 0); err != nil || !taken {
			t.Fatalf("UsernameTaken(Alice) = %v, %v", taken, err)
		}
		if taken, _ := s.UsernameTaken(ctx, "alice", a.ID); taken {
			t.Fatal("a user's own username counts as taken")
		}
		if taken, _ := s.MobileTaken(ctx, "+8613800000001", a.ID); taken {
			t.Fatal("a user's own mobile counts as taken")
		}
		if taken, _ := s.MobileTaken(ctx, "+8613800000001", bob.ID); !taken {
			t.Fatal("another user's mobile does not count as taken")
		}
	})
}

func TestListUsers(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		for i := range 30 {
			createUser(t, s, models.User{Username: fmt.Sprintf("user%02d", i), Nickname: fmt.Sprintf("Member %02d", i)})
		}
		createUser(t, s, models.User{Username: "percent", Nickname: "100% sure", Email: "p@example.com"})
		createUser(t, s, models.User{Username: "under_score", Nickname: "Under", Mobile: ptr("+8613900000002")})
		createUser(t, s, models.User{Username: "plain", Nickname: "Zhang Wei", Email: "zw@corp.example"})
		tests := []struct {
			name          string
			query         string
			offset, limit int
			wantTotal     int64
			wantFirst     string // username of the first row, "" for none
			wantRows      int
		}{
			{"everything, newest first", "", 0, 25, 33, "plain", 25},
			{"second page", "", 25, 25, 33, "user07", 8},
			{"search by username prefix", "user1", 0, 25, 10, "user19", 10},
			{"search by nickname, any case", "zhang", 0, 25, 1, "plain", 1},
			{"search by email", "corp.example", 0, 25, 1, "plain", 1},
			{"search by mobile digits", "139000", 0, 25, 1, "under_score", 1},
			{"percent sign is literal, not a wildcard", "%", 0, 25, 1, "percent", 1},
			{"underscore is literal, not a wildcard", "_", 0, 25, 1, "under_score", 1},
			{"backslash is literal", `\`, 0, 25, 0, "", 0},
			{"no match", "nobody-has-this", 0, 25, 0, "", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.ListUsers(ctx, tt.query, tt.offset, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != tt.wantTotal || len(p.Users) != tt.wantRows {
					t.Fatalf("total %d rows %d, want %d and %d", p.Total, len(p.Users), tt.wantTotal, tt.wantRows)
				}
				if tt.wantFirst != "" && p.Users[0].Username != tt.wantFirst {
					t.Fatalf("first row %q, want %q", p.Users[0].Username, tt.wantFirst)
				}
			})
		}
	})
}

// TestListUsersCountStops: past 10,000 matches a listing says "more than" rather than counting every
// user, yet still counts up to the page asked for, so that page and its Next link work.
func TestListUsersCountStops(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		users := make([]models.User, 10030)
		for i := range users {
			users[i] = models.User{Username: fmt.Sprintf("many%05d", i), Disabled: i < 20}
		}
		if err := s.DB().WithContext(ctx).CreateInBatches(users, 500).Error; err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name          string
			filter        models.UserFilter
			offset, limit int
			wantTotal     int64
			wantMore      bool
			wantRows      int
		}{
			{"first page of many", models.UserFilter{}, 0, 50, 10000, true, 50},
			{"a page past the cap", models.UserFilter{}, 10000, 50, 10030, false, 30},
			{"a page at the cap, more after", models.UserFilter{}, 9950, 50, 10000, true, 50},
			{"a small filter is exact", models.UserFilter{Disabled: "yes"}, 0, 50, 20, false, 20},
			{"a large filter stops", models.UserFilter{Disabled: "no", Query: "many"}, 0, 50, 10000, true, 50},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.FilterUsers(ctx, tt.filter, tt.offset, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != tt.wantTotal || p.More != tt.wantMore || len(p.Users) != tt.wantRows {
					t.Fatalf("total %d more %v rows %d, want %d %v %d", p.Total, p.More, len(p.Users), tt.wantTotal, tt.wantMore, tt.wantRows)
				}
			})
		}
	})
}

func TestCountActiveAdmins(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := createUser(t, s, models.User{Username: "a", IsAdmin: true})
		b := createUser(t, s, models.User{Username: "b", IsAdmin: true, Disabled: true})
		createUser(t, s, models.User{Username: "c"})
		tests := []struct {
			name   string
			except int64
			want   int64
		}{
			{"one active admin; disabled admins and members do not count", 0, 1},
			{"excluding the only active admin leaves none", a.ID, 0},
			{"excluding a disabled admin changes nothing", b.ID, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n, err := s.CountActiveAdmins(ctx, tt.except)
				if err != nil || n != tt.want {
					t.Fatalf("CountActiveAdmins(%d) = %d, %v; want %d", tt.except, n, err, tt.want)
				}
			})
		}
	})
}

func wecomAuthenticator(name string, sort int, autoLogin bool) models.Authenticator {
	return models.Authenticator{Name: name, Type: models.TypeWeCom, Title: name, Enabled: true, Sort: sort, AutoLogin: autoLogin,
		Options: models.AuthenticatorOptions{CorpID: "corp-" + name, AgentID: 1000001, Origin: "https://gate.example.com"}}
}

func createAuthenticator(t *testing.T, s *models.Store, a models.Authenticator) models.Authenticator {
	t.Helper()
	if err := s.CreateAuthenticator(ctx, &a); err != nil {
		t.Fatalf("create authenticator %q: %v", a.Name, err)
	}
	return a
}

func names(list []models.Authenticator) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.Name)
	}
	return out
}

func TestPasswordAuthenticatorSeededByMigration(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		list, err := s.Authenticators(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != models.PasswordAuthenticatorName || list[0].Type != models.TypePassword || !list[0].Enabled {
			t.Fatalf("after migration: %+v; want one enabled password authenticator", list)
		}
	})
}

func TestLastEnabledAuthenticator(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		pw, _ := s.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
		pw.Enabled = false
		if err := s.SaveAuthenticator(ctx, &pw); !errors.Is(err, models.ErrLastEnabled) {
			t.Fatalf("disabling the only authenticator: %v, want ErrLastEnabled", err)
		}
		if got, _ := s.AuthenticatorByID(ctx, pw.ID); !got.Enabled {
			t.Fatal("the only authenticator was disabled anyway")
		}
		if err := s.DeleteAuthenticator(ctx, pw.ID); !errors.Is(err, models.ErrLastEnabled) {
			t.Fatalf("deleting the only authenticator: %v, want ErrLastEnabled", err)
		}

		w := createAuthenticator(t, s, wecomAuthenticator("corp", 10, false))
		pw.Enabled = false
		if err := s.SaveAuthenticator(ctx, &pw); err != nil {
			t.Fatalf("disabling password while WeCom is enabled: %v", err)
		}
		w.Enabled = false
		if err := s.SaveAuthenticator(ctx, &w); !errors.Is(err, models.ErrLastEnabled) {
			t.Fatalf("disabling the last enabled WeCom authenticator: %v, want ErrLastEnabled", err)
		}
		if err := s.DeleteAuthenticator(ctx, w.ID); !errors.Is(err, models.ErrLastEnabled) {
			t.Fatalf("deleting the last enabled authenticator: %v, want ErrLastEnabled", err)
		}
		if _, err := s.AuthenticatorByID(ctx, w.ID); err != nil {
			t.Fatalf("the refused delete removed the row: %v", err)
		}
		// A disabled authenticator can always be deleted.
		pwRow, _ := s.AuthenticatorByID(ctx, pw.ID)
		if pwRow.Enabled {
			t.Fatal("password authenticator still enabled")
		}
	})
}

func TestDeleteAuthenticatorRemovesBindings(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		u := createUser(t, s, models.User{Username: "alice"})
		w1 := createAuthenticator(t, s, wecomAuthenticator("one", 10, false))
		w2 := createAuthenticator(t, s, wecomAuthenticator("two", 20, false))
		for _, a := range []models.Authenticator{w1, w2} {
			if err := s.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: "alice", CorpID: a.Options.CorpID}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteAuthenticator(ctx, w1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticatorByID(ctx, w1.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("deleted authenticator still there: %v", err)
		}
		if n, _ := s.CountBindings(ctx, w1.ID); n != 0 {
			t.Fatalf("%d bindings of the deleted authenticator remain", n)
		}
		if n, _ := s.CountBindings(ctx, w2.ID); n != 1 {
			t.Fatalf("bindings of another authenticator went too: %d left", n)
		}
		if err := s.DeleteAuthenticator(ctx, w1.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("deleting twice: %v, want ErrNotFound", err)
		}
	})
}

func TestMoveAuthenticator(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		a := createAuthenticator(t, s, wecomAuthenticator("a", 10, false))
		b := createAuthenticator(t, s, wecomAuthenticator("b", 20, false))
		pw, _ := s.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
		steps := []struct {
			name  string
			id    int64
			delta int
			want  string
		}{
			{"initial order", 0, 0, "[password a b]"},
			{"move b up", b.ID, -1, "[password b a]"},
			{"move the first one up stays first", pw.ID, -1, "[password b a]"},
			{"move password down", pw.ID, 1, "[b password a]"},
			{"move the last one down stays last", a.ID, 1, "[b password a]"},
			{"move a up twice (1)", a.ID, -1, "[b a password]"},
			{"move a up twice (2)", a.ID, -1, "[a b password]"},
		}
		for _, st := range steps {
			if st.id != 0 {
				if err := s.MoveAuthenticator(ctx, st.id, st.delta); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
			}
			list, _ := s.Authenticators(ctx)
			if got := fmt.Sprint(names(list)); got != st.want {
				t.Fatalf("%s: order %s, want %s", st.name, got, st.want)
			}
		}
		if err := s.MoveAuthenticator(ctx, 99999, 1); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("moving a missing authenticator: %v, want ErrNotFound", err)
		}
	})
}

func TestAutoLoginAtMostOneEnabled(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		first := createAuthenticator(t, s, wecomAuthenticator("first", 10, true))
		second := wecomAuthenticator("second", 20, true)
		if err := s.CreateAuthenticator(ctx, &second); !errors.Is(err, models.ErrAutoLoginTaken) {
			t.Fatalf("second enabled auto-login authenticator: %v, want ErrAutoLoginTaken", err)
		}
		third := createAuthenticator(t, s, wecomAuthenticator("third", 30, false))
		third.AutoLogin = true
		if err := s.SaveAuthenticator(ctx, &third); !errors.Is(err, models.ErrAutoLoginTaken) {
			t.Fatalf("turning auto login on a second one: %v, want ErrAutoLoginTaken", err)
		}
		// A disabled one may keep the flag.
		disabled := wecomAuthenticator("disabled", 40, true)
		disabled.Enabled = false
		if err := s.CreateAuthenticator(ctx, &disabled); err != nil {
			t.Fatalf("a disabled authenticator with auto login: %v", err)
		}
		if row, _ := s.AuthenticatorByID(ctx, disabled.ID); row.Enabled || !row.AutoLogin || disabled.Enabled {
			t.Fatalf("created disabled with auto login, stored enabled=%v auto_login=%v", row.Enabled, row.AutoLogin)
		}
		got, err := s.AutoLoginAuthenticator(ctx)
		if err != nil || got.ID != first.ID {
			t.Fatalf("AutoLoginAuthenticator = %q, %v; want first", got.Name, err)
		}
		// Once the first is disabled, another may take it.
		first.Enabled = false
		if err := s.SaveAuthenticator(ctx, &first); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAuthenticator(ctx, &third); err != nil {
			t.Fatalf("auto login after the holder was disabled: %v", err)
		}
		dup := wecomAuthenticator("third", 50, false)
		if err := s.CreateAuthenticator(ctx, &dup); !errors.Is(err, models.ErrConflict) {
			t.Fatalf("a taken name: %v, want ErrConflict", err)
		}
	})
}

func TestBindingsUnique(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		alice := createUser(t, s, models.User{Username: "alice"})
		bob := createUser(t, s, models.User{Username: "bob"})
		a1 := createAuthenticator(t, s, wecomAuthenticator("one", 10, false))
		a2 := createAuthenticator(t, s, wecomAuthenticator("two", 20, false))
		first := models.Binding{UserID: alice.ID, AuthenticatorID: a1.ID, Subject: "zhangsan", CorpID: "corp-one"}
		if err := s.CreateBinding(ctx, &first); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			b    models.Binding
			err  error
		}{
			{"same WeCom userid at the same authenticator for another user is refused", models.Binding{UserID: bob.ID, AuthenticatorID: a1.ID, Subject: "zhangsan"}, models.ErrConflict},
			{"a second identity for the same user at the same authenticator is refused", models.Binding{UserID: alice.ID, AuthenticatorID: a1.ID, Subject: "lisi"}, models.ErrConflict},
			{"same userid at another authenticator is another person", models.Binding{UserID: bob.ID, AuthenticatorID: a2.ID, Subject: "zhangsan"}, nil},
			{"the same user may be bound at another authenticator", models.Binding{UserID: alice.ID, AuthenticatorID: a2.ID, Subject: "alice2"}, nil},
			{"an identity taken at the other authenticator is refused there too", models.Binding{UserID: alice.ID, AuthenticatorID: a2.ID, Subject: "zhangsan"}, models.ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := tt.b
				err := s.CreateBinding(ctx, &b)
				if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("CreateBinding: %v, want %v", err, tt.err)
				}
			})
		}
		got, err := s.BindingBySubject(ctx, a1.ID, "zhangsan")
		if err != nil || got.UserID != alice.ID {
			t.Fatalf("BindingBySubject: user %d, %v; want alice", got.UserID, err)
		}
		list, _ := s.UserBindings(ctx, alice.ID)
		if len(list) != 2 || list[0].AuthenticatorName != "one" {
			t.Fatalf("alice's bindings: %+v", list)
		}
		if _, err := s.DeleteUserBinding(ctx, bob.ID, first.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("deleting alice's binding through bob: %v, want ErrNotFound", err)
		}
		if b, err := s.DeleteUserBinding(ctx, alice.ID, first.ID); err != nil || b.Subject != "zhangsan" {
			t.Fatalf("DeleteUserBinding: %+v %v", b, err)
		}
		if _, err := s.BindingBySubject(ctx, a1.ID, "zhangsan"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("binding still there: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		alice := createUser(t, s, models.User{Username: "alice"})
		bob := createUser(t, s, models.User{Username: "bob"})
		now := time.Now().UTC().Truncate(time.Second)
		mk := func(id string, user int64, expires time.Time, revoked *time.Time) {
			t.Helper()
			row := models.Session{ID: id, UserID: user, CreatedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Hour), ExpiresAt: expires, RevokedAt: revoked}
			if err := s.CreateSession(ctx, &row); err != nil {
				t.Fatal(err)
			}
		}
		mk("live", alice.ID, now.Add(time.Hour), nil)
		mk("live2", alice.ID, now.Add(time.Hour), nil)
		mk("live3", alice.ID, now.Add(time.Hour), nil)
		mk("expired", alice.ID, now.Add(-time.Minute), nil)
		mk("revoked", alice.ID, now.Add(time.Hour), ptr(now.Add(-time.Minute)))
		mk("bob", bob.ID, now.Add(time.Hour), nil)

		tests := []struct {
			name, id string
			ok       bool
		}{
			{"a live session is active", "live", true},
			{"an expired session is not", "expired", false},
			{"a revoked session is not", "revoked", false},
			{"an unknown id is not", "nope", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sess, u, err := s.ActiveSession(ctx, tt.id, now)
				if tt.ok && (err != nil || u.ID != alice.ID || sess.ID != tt.id) {
					t.Fatalf("ActiveSession(%q) = %q user %d, %v", tt.id, sess.ID, u.ID, err)
				}
				if !tt.ok && !errors.Is(err, models.ErrNotFound) {
					t.Fatalf("ActiveSession(%q): %v, want ErrNotFound", tt.id, err)
				}
			})
		}
		if list, _ := s.UserSessions(ctx, alice.ID, now); len(list) != 3 {
			t.Fatalf("alice has %d live sessions listed, want 3", len(list))
		}
		if err := s.RevokeUserSession(ctx, bob.ID, "live3", now); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("bob revoking alice's session: %v, want ErrNotFound", err)
		}
		if err := s.RevokeUserSession(ctx, alice.ID, "live3", now); err != nil {
			t.Fatal(err)
		}
		n, err := s.RevokeUserSessions(ctx, alice.ID, "live", now)
		if err != nil || n != 1 {
			t.Fatalf("RevokeUserSessions keeping one revoked %d, %v; want 1 (live2)", n, err)
		}
		if _, _, err := s.ActiveSession(ctx, "live", now); err != nil {
			t.Fatalf("the kept session was revoked: %v", err)
		}
		if _, _, err := s.ActiveSession(ctx, "live2", now); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("the other session is still active: %v", err)
		}
		if _, _, err := s.ActiveSession(ctx, "bob", now); err != nil {
			t.Fatalf("bob's session was revoked with alice's: %v", err)
		}
		if n, _ := s.RevokeUserSessions(ctx, alice.ID, "", now); n != 1 {
			t.Fatalf("revoking all: %d, want 1", n)
		}
		if c, _ := s.CountActiveSessions(ctx, now); c != 1 {
			t.Fatalf("active sessions: %d, want 1 (bob)", c)
		}
	})
}

func insertEvent(t *testing.T, s *models.Store, e models.AuditEvent) {
	t.Helper()
	if e.Detail == "" {
		e.Detail = "{}"
	}
	if err := s.DB().Create(&e).Error; err != nil {
		t.Fatal(err)
	}
}

func TestListAudit(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		root := createUser(t, s, models.User{Username: "root", IsAdmin: true})
		alice := createUser(t, s, models.User{Username: "alice"})
		for _, e := range []models.Event{
			{ActorUserID: root.ID, Action: models.ActionSigninOK, Target: "root"},
			{Action: models.ActionSigninFailed, Target: "alice", IP: "10.0.0.1"},
			{Action: models.ActionSigninRefused, Target: "Alice_Smith"},
			{ActorUserID: root.ID, Action: models.ActionUserCreate, Target: "alice"},
			{ActorUserID: alice.ID, Action: models.ActionSignout, Target: "alice"},
			{ActorUserID: root.ID, Action: "signinx.other", Target: "x"},
		} {
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name  string
			f     models.AuditFilter
			total int64
		}{
			{"no filter lists everything", models.AuditFilter{}, 6},
			{"exact action", models.AuditFilter{Action: models.ActionSigninOK}, 1},
			{"action prefix signin. covers every sign-in event but not signinx", models.AuditFilter{Action: "signin."}, 3},
			{"action without dot is exact, not a prefix", models.AuditFilter{Action: "signin"}, 0},
			{"actor by username", models.AuditFilter{Actor: "root"}, 3},
			{"actor in another case", models.AuditFilter{Actor: "ROOT"}, 3},
			{"unknown actor", models.AuditFilter{Actor: "nobody"}, 0},
			{"target substring, any case", models.AuditFilter{Target: "ALICE"}, 4},
			{"target underscore is literal", models.AuditFilter{Target: "e_s"}, 1},
			{"target percent is literal", models.AuditFilter{Target: "%"}, 0},
			{"filters combine", models.AuditFilter{Action: "signin.", Target: "alice"}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.ListAudit(ctx, tt.f, 0, 50)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(p.Events)) != tt.total || p.Before != 0 {
					t.Fatalf("rows %d (next page %d), want %d", len(p.Events), p.Before, tt.total)
				}
			})
		}
		p, _ := s.ListAudit(ctx, models.AuditFilter{Actor: "alice"}, 0, 50)
		if len(p.Events) != 1 || p.Events[0].ActorUsername != "alice" || p.Events[0].Action != models.ActionSignout {
			t.Fatalf("actor alice: %+v", p.Events)
		}
	})
}

func TestListAuditPaging(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		base := time.Now().UTC().Add(-time.Hour)
		for i := range 7 {
			insertEvent(t, s, models.AuditEvent{At: base.Add(time.Duration(i) * time.Minute), Action: "user.update", Target: fmt.Sprintf("u%d", i)})
		}
		var seen []string
		var before int64
		for page := 0; ; page++ {
			p, err := s.ListAudit(ctx, models.AuditFilter{}, before, 3)
			if err != nil || page > 3 {
				t.Fatalf("page %d: %v", page, err)
			}
			for _, e := range p.Events {
				seen = append(seen, e.Target)
			}
			if p.Before == 0 {
				break
			}
			before = p.Before
		}
		if got := fmt.Sprint(seen); got != "[u6 u5 u4 u3 u2 u1 u0]" {
			t.Fatalf("pages newest first: %s", got)
		}
	})
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		createUser(t, s, models.User{Username: "keep"})
		if err := s.Migrate(ctx, nil); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		list, _ := s.Authenticators(ctx)
		if len(list) != 1 {
			t.Fatalf("%d authenticators after migrating twice, want 1", len(list))
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("%d users after migrating twice, want 1", n)
		}
	})
}

func TestConcurrentMigrateSeedsOnce(t *testing.T) {
	if !hasPostgres() {
		t.Skip("TEST_DATABASE_URL not set")
	}
	dsn := modelstest.SchemaURL(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const instances = 5
	stores := make([]*models.Store, instances)
	for i := range stores {
		s, err := models.Open(models.Options{DatabaseURL: dsn, MaxOpenConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i, s := range stores {
		wg.Go(func() {
			errs[i] = s.Migrate(ctx, func(ctx context.Context, tx *models.Store) error {
				return auth.EnsureFirstAdmin(ctx, tx, "admin", "first-admin-password", log)
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	s := stores[0]
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users, want exactly one first admin", n)
	}
	if n, _ := s.CountActiveAdmins(ctx, 0); n != 1 {
		t.Fatalf("%d admins, want 1", n)
	}
	list, _ := s.Authenticators(ctx)
	if len(list) != 1 || list[0].Type != models.TypePassword {
		t.Fatalf("authenticators %v, want one password authenticator", names(list))
	}
}

func hasPostgres() bool {
	for _, d := range modelstest.Dialects() {
		if d == "postgres" {
			return true
		}
	}
	return false
}
