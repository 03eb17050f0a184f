package directory_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestSecurityLeaverCutOff: a member WeCom reports gone loses every session at once; a user with no
// other way in is disabled, and only such a user is enabled again when the member comes back.
func TestSecurityLeaverCutOff(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, st *models.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		members := &directory.Members{Store: st, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		a := models.Authenticator{Name: "corp", Type: models.TypeWeCom, Title: "WeCom", Enabled: true,
			Options: models.AuthenticatorOptions{CorpID: "ww1", AgentID: 1}}
		if err := st.CreateAuthenticator(ctx, &a); err != nil {
			t.Fatal(err)
		}
		pw := "hash"
		only := models.User{Username: "only"}
		withPassword := models.User{Username: "pw", PasswordHash: &pw}
		for _, u := range []*models.User{&only, &withPassword} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: u.Username, CorpID: "ww1"}); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateSession(ctx, &models.Session{ID: u.Username + "-session", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}

		for _, tc := range []struct {
			user         models.User
			wantDisabled bool
		}{{only, true}, {withPassword, false}} {
			ch, err := members.Left(ctx, a, tc.user.Username, models.MemberLeft, directory.SourceEvent)
			if err != nil {
				t.Fatal(err)
			}
			if !ch.Changed || ch.SessionsEnded != 1 || ch.UserDisabled != tc.wantDisabled {
				t.Errorf("%s: cut off = %+v, want changed, 1 session ended, disabled %v", tc.user.Username, ch, tc.wantDisabled)
			}
			if _, _, err := st.ActiveSession(ctx, tc.user.Username+"-session", now); err == nil {
				t.Errorf("%s: session still active after the cut-off", tc.user.Username)
			}
			again, err := members.Left(ctx, a, tc.user.Username, models.MemberLeft, directory.SourceSweep)
			if err != nil || again.Changed || again.SessionsEnded != 0 {
				t.Errorf("%s: a repeated cut-off changed something: %+v, %v", tc.user.Username, again, err)
			}
		}
		if ch, err := members.Left(ctx, a, "nobody", models.MemberLeft, directory.SourceEvent); err != nil || ch.Changed {
			t.Errorf("unbound userid: %+v, %v", ch, err)
		}

		// Back again: the directory's own disabling is undone, an admin's never.
		back, err := members.Back(ctx, a, "only", directory.SourceEvent)
		if err != nil || !back.Changed || !back.UserEnabled {
			t.Fatalf("back = %+v, %v; want changed and enabled", back, err)
		}
		if u, _ := st.UserByUsername(ctx, "only"); u.Disabled || u.DisabledByDirectory {
			t.Errorf("user not enabled again: %+v", u)
		}
		if err := st.SaveUser(ctx, &models.User{ID: withPassword.ID, Username: "pw", PasswordHash: &pw, Disabled: true}); err != nil {
			t.Fatal(err)
		}
		if back, err := members.Back(ctx, a, "pw", directory.SourceSweep); err != nil || back.UserEnabled {
			t.Errorf("an admin-disabled user was enabled by the directory: %+v, %v", back, err)
		}
		rows, err := st.ListAudit(ctx, models.AuditFilter{Action: directory.ActionMemberLeft}, 0, 10)
		if err != nil || len(rows.Events) != 2 {
			t.Errorf("member_left audit rows = %d (%v), want 2", len(rows.Events), err)
		}
	})
}
