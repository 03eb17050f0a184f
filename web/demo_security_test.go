package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

// startDemo runs what `gatehouse serve --demo` runs on the database before serving (main.go's open).
func startDemo(s *models.Store) error {
	cfg, _ := web.LoadConfig(func(string) string { return "" })
	cfg.SecretKey = []byte("test-secret-key-0123456789abcdef-0123456789")
	cfg.Demo = true
	cfg.AdminPassword = "first-admin-password"
	return s.Migrate(context.Background(), func(ctx context.Context, s *models.Store) error {
		return web.StartDemo(ctx, s, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
}

// TestSecurityDemoRefusesDatabaseUsedForReal: demo mode (a simulator where anyone picks any member,
// auto-signup, auto login) starts only on an empty database or one holding nothing but what the demo
// made, even when the database was first started in demo mode and so carries the demo's marker.
func TestSecurityDemoRefusesDatabaseUsedForReal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		demo   bool // started in demo mode first
		use    func(t *testing.T, s *models.Store)
		refuse bool
	}{
		{"an empty database", false, nil, false},
		{"a database with a real user and no demo marker", false, func(t *testing.T, s *models.Store) {
			mustCreateUser(t, s, "real-person")
		}, true},
		{"a demo database used only by the demo, with a member signed up through it", true, func(t *testing.T, s *models.Store) {
			demo, _ := s.AuthenticatorByName(ctx, "wecom-demo")
			u := mustCreateUser(t, s, "lisi")
			if err := s.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: demo.ID, Subject: "lisi"}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a demo database where a real user was added later", true, func(t *testing.T, s *models.Store) {
			mustCreateUser(t, s, "real-person")
		}, true},
		{"a demo database whose demo admin and user were replaced by a real admin", true, func(t *testing.T, s *models.Store) {
			real := models.User{Username: "alice", IsAdmin: true}
			if err := s.CreateUser(ctx, &real); err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Where("username IN ?", []string{"admin", "zhangsan"}).Delete(&models.User{}).Error; err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a demo database where a real WeCom authenticator was added later", true, func(t *testing.T, s *models.Store) {
			a := models.Authenticator{Name: "acme", Type: models.TypeWeCom, Title: "Acme", Enabled: true,
				Options: models.AuthenticatorOptions{CorpID: "ww1234567890abcdef", AgentID: 1000002, Origin: "https://gate.example.com"}}
			if err := s.CreateAuthenticator(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a demo database whose demo authenticator was pointed at a real corp", true, func(t *testing.T, s *models.Store) {
			a, _ := s.AuthenticatorByName(ctx, "wecom-demo")
			a.Options.CorpID = "ww1234567890abcdef"
			if err := s.SaveAuthenticator(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, s *models.Store) {
				if tt.demo {
					if err := startDemo(s); err != nil {
						t.Fatalf("first demo start: %v", err)
					}
				}
				if tt.use != nil {
					tt.use(t, s)
				}
				usersBefore, _ := s.CountUsers(ctx)
				err := startDemo(s)
				var cfgErr *web.ConfigError
				if refused := errors.As(err, &cfgErr) && cfgErr.Var == "GATEHOUSE_DEMO"; refused != tt.refuse || !refused && err != nil {
					t.Fatalf("demo start: %v, want refused=%v", err, tt.refuse)
				}
				if usersAfter, _ := s.CountUsers(ctx); tt.refuse && usersAfter != usersBefore {
					t.Fatalf("a refused demo start changed the users: %d → %d", usersBefore, usersAfter)
				}
			})
		})
	}
}

func mustCreateUser(t *testing.T, s *models.Store, username string) models.User {
	t.Helper()
	u := models.User{Username: username}
	if err := s.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSecurityDemoAuthenticatorRetiredWithoutDemo: after a demo run, a start without demo mode disables
// the demo authenticator and its auto login (it would send every visitor to a simulator that is not
// running), logs one line and audits it, once; the next demo start enables it again.
func TestSecurityDemoAuthenticatorRetiredWithoutDemo(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name            string
		disablePassword bool // the demo admin turned the password authenticator off
	}{
		{"the demo authenticator is disabled", false},
		{"the password authenticator comes back when the demo one was the last enabled", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, s *models.Store) {
				webtest.NewOnStore(t, s, webtest.WithDemo())
				if tt.disablePassword {
					if err := s.DB().Model(&models.Authenticator{}).Where("name = ?", models.PasswordAuthenticatorName).UpdateColumn("enabled", false).Error; err != nil {
						t.Fatal(err)
					}
				}
				app := webtest.NewOnStore(t, s)
				demo, err := s.AuthenticatorByName(ctx, "wecom-demo")
				if err != nil || demo.Enabled || demo.AutoLogin {
					t.Fatalf("after a start without demo mode: %+v, %v", demo, err)
				}
				if strings.Count(app.Logs(), "demo mode is off") != 1 {
					t.Fatalf("logs %q: want one line about the demo authenticator", app.Logs())
				}
				if n, _ := s.CountEvents(ctx, models.ActionAuthUpdate, time.Time{}); n != 1 {
					t.Fatalf("%d audit events, want 1", n)
				}
				pw, _ := s.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
				if !pw.Enabled {
					t.Fatal("no authenticator is enabled: nobody can sign in")
				}
				if r := app.Client().Get("/signin"); r.Find("[data-testid=wecom-button-wecom-demo]").Length() != 0 {
					t.Fatal("the sign-in page still offers the demo authenticator")
				}

				again := webtest.NewOnStore(t, s)
				if strings.Contains(again.Logs(), "demo mode is off") {
					t.Fatal("a second start without demo mode logged again")
				}
				if n, _ := s.CountEvents(ctx, models.ActionAuthUpdate, time.Time{}); n != 1 {
					t.Fatalf("%d audit events after a second start, want 1", n)
				}

				webtest.NewOnStore(t, s, webtest.WithDemo())
				if demo, _ := s.AuthenticatorByName(ctx, "wecom-demo"); !demo.Enabled || !demo.AutoLogin {
					t.Fatalf("a demo start did not enable the demo authenticator again: %+v", demo)
				}
			})
		})
	}
}
