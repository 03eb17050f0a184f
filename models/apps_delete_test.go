package models_test

import (
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// TestDeleteAppTakesItsGrants: deleting an application deletes its authorize requests (with their
// codes) and its tokens, and nothing of another application.
func TestDeleteAppTakesItsGrants(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		now := time.Now().UTC()
		u := createUser(t, s, models.User{Username: "alice"})
		var list []models.App
		for _, name := range []string{"gone", "kept"} {
			a := models.App{Name: name, Type: models.AppTypeOIDC, Enabled: true, Access: models.AccessEveryone, ClientID: name + "-client"}
			if err := s.CreateApp(ctx, &a); err != nil {
				t.Fatal(err)
			}
			req := models.OIDCAuthRequest{ID: name + "-request", AppID: a.ID, ClientID: a.ClientID, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := s.CreateOIDCAuthRequest(ctx, &req); err != nil {
				t.Fatal(err)
			}
			tok := models.OIDCToken{Hash: name + "-token", Kind: "access", GrantID: req.ID, AppID: a.ID, ClientID: a.ClientID,
				UserID: u.ID, SessionID: "s", Scopes: []string{"openid"}, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateOIDCTokens(ctx, &tok); err != nil {
				t.Fatal(err)
			}
			list = append(list, a)
		}
		if err := s.DeleteApp(ctx, list[0].ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			table string
			appID int64
			want  int64
		}{{"oidc_auth_requests", list[0].ID, 0}, {"oidc_tokens", list[0].ID, 0}, {"oidc_auth_requests", list[1].ID, 1}, {"oidc_tokens", list[1].ID, 1}} {
			var n int64
			if err := s.DB().WithContext(ctx).Table(tc.table).Where("app_id = ?", tc.appID).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("%s of app %d: %d rows, want %d", tc.table, tc.appID, n, tc.want)
			}
		}
		if _, err := s.App(ctx, list[0].ID); err == nil {
			t.Error("the deleted app is still there")
		}
	})
}
