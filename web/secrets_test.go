package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
)

var (
	// sealedKey sealed the v1 values below, with the first format (commit 5877f9e's Sealer).
	sealedKey = []byte("old-secret-key-0123456789abcdef-0123456789")
	otherKey  = []byte("new-secret-key-0123456789abcdef-0123456789")
	thirdKey  = []byte("third-secret-key-0123456789abcdef-01234567")
)

const (
	v1Secret = "v1.3774fbbf.X3k4qrMuaP/y06o4+B2a/9EFcYbXRJ5fvm5gqRp7Qf3/XOS2nFhKhhJa7/CF6yykH15S" // "wecom-app-secret-Abc123"
	v1Token  = "v1.3774fbbf.icJyEQXqHHGh//u+JHUjvjbx5If+ffeoHicOf4y2KrU9ORWFGXVwug"               // "token-v1-XYZ"
	tokenKey = "ww1234567890abcdef:1000002:0123456789abcdef"
)

// sealedWorld adds authenticators whose secret columns are given as they would be stored, and one
// cached token.
func sealedWorld(t *testing.T, s *models.Store, secrets map[string]string, token string) {
	t.Helper()
	ctx := context.Background()
	for name, sealed := range secrets {
		a := models.Authenticator{Name: name, Type: models.TypeWeCom, Title: name, Enabled: true, SecretSealed: sealed,
			Options: models.AuthenticatorOptions{CorpID: "ww1234567890abcdef", AgentID: 1000002, Origin: "https://gate.example.com"}}
		if err := s.CreateAuthenticator(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	if err := s.DB().Create(&models.WeComToken{CacheKey: tokenKey, TokenSealed: token, ExpiresAt: now.Add(time.Hour), RefreshedAt: now}).Error; err != nil {
		t.Fatal(err)
	}
}

func prepare(t *testing.T, s *models.Store, current []byte, previous ...[]byte) (string, error) {
	t.Helper()
	var logs bytes.Buffer
	cfg := web.Config{SecretKey: current, PreviousKeys: previous}
	err := s.Migrate(context.Background(), func(ctx context.Context, s *models.Store) error {
		return web.PrepareSealedSecrets(ctx, s, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	})
	return logs.String(), err
}

func column(t *testing.T, s *models.Store, name string) string {
	t.Helper()
	a, err := s.AuthenticatorByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.SecretSealed
}

func tokenColumn(t *testing.T, s *models.Store) string {
	t.Helper()
	var row models.WeComToken
	if err := s.DB().Where("cache_key = ?", tokenKey).First(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.TokenSealed
}

// TestPrepareSealedSecretsReseals: at start-up, v1 values and values sealed with a previous key are
// re-sealed as v2 with the current key, bound to their row, so the previous key can then be retired.
func TestPrepareSealedSecretsReseals(t *testing.T) {
	tests := []struct {
		name     string
		current  []byte
		previous [][]byte
	}{
		{"v1 values with the same key", sealedKey, nil},
		{"v1 values after a rotation (old key as previous)", otherKey, [][]byte{sealedKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, s *models.Store) {
				sealedWorld(t, s, map[string]string{"acme": v1Secret}, v1Token)
				if _, err := prepare(t, s, tt.current, tt.previous...); err != nil {
					t.Fatal(err)
				}
				onlyCurrent, _ := models.NewSealer(tt.current)
				secret, token := column(t, s, "acme"), tokenColumn(t, s)
				if !strings.HasPrefix(secret, "v2.") || !strings.HasPrefix(token, "v2.") {
					t.Fatalf("not re-sealed as v2: %q, %q", secret, token)
				}
				if got, err := onlyCurrent.Open(secret, models.AuthenticatorSecret("acme")); err != nil || got != "wecom-app-secret-Abc123" {
					t.Fatalf("re-sealed secret opens with the current key alone as %q, %v", got, err)
				}
				if got, err := onlyCurrent.Open(token, models.WeComTokenFor(tokenKey)); err != nil || got != "token-v1-XYZ" {
					t.Fatalf("re-sealed token opens with the current key alone as %q, %v", got, err)
				}
				// A second start changes nothing.
				if _, err := prepare(t, s, tt.current, tt.previous...); err != nil || column(t, s, "acme") != secret {
					t.Fatalf("second start: %v, secret changed: %v", err, column(t, s, "acme") != secret)
				}
			})
		})
	}
}

// TestSecurityStartRefusesWrongSecretKey: a secret key that opens none of the sealed secrets (a lost
// or regenerated secret.key, a typo in GATEHOUSE_SECRET_KEY) stops start-up with a message naming the
// variables to fix, and changes nothing; a single unreadable secret among readable ones is logged.
func TestSecurityStartRefusesWrongSecretKey(t *testing.T) {
	good, _ := models.NewSealer(sealedKey)
	acme, _ := good.Seal("acme-secret", models.AuthenticatorSecret("acme"))
	moved, _ := good.Seal("other-secret", models.AuthenticatorSecret("other")) // copied into "beta"
	tests := []struct {
		name     string
		secrets  map[string]string
		current  []byte
		previous [][]byte
		refuse   bool
		logs     string
	}{
		{"a wrong key is refused", map[string]string{"acme": acme, "legacy": v1Secret}, otherKey, nil, true, ""},
		{"a wrong key with a wrong previous key is refused", map[string]string{"acme": acme}, otherKey, [][]byte{thirdKey}, true, ""},
		{"the old key as previous is accepted", map[string]string{"acme": acme}, otherKey, [][]byte{sealedKey}, false, ""},
		{"one moved secret among good ones is logged, not refused", map[string]string{"acme": acme, "beta": moved}, sealedKey, nil, false, "authenticator=beta"},
		{"no sealed secret at all is accepted", map[string]string{}, otherKey, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, s *models.Store) {
				sealedWorld(t, s, tt.secrets, v1Token)
				logs, err := prepare(t, s, tt.current, tt.previous...)
				var cfgErr *web.ConfigError
				if got := errors.As(err, &cfgErr); got != tt.refuse || err != nil && !tt.refuse {
					t.Fatalf("refused = %v (%v), want %v", got, err, tt.refuse)
				}
				if tt.refuse {
					msg := err.Error()
					if !strings.Contains(msg, "GATEHOUSE_SECRET_KEY") || !strings.Contains(msg, "GATEHOUSE_SECRET_KEY_PREVIOUS") || strings.Contains(msg, "\n") {
						t.Fatalf("message %q: want one line naming GATEHOUSE_SECRET_KEY and GATEHOUSE_SECRET_KEY_PREVIOUS", msg)
					}
					for name, sealed := range tt.secrets {
						if column(t, s, name) != sealed {
							t.Fatalf("a refused start changed the secret of %s", name)
						}
					}
					if tokenColumn(t, s) != v1Token {
						t.Fatal("a refused start changed the token cache")
					}
				}
				if !strings.Contains(logs, tt.logs) || strings.Contains(logs, "acme-secret") || strings.Contains(logs, "other-secret") {
					t.Fatalf("logs %q, want %q and no secret", logs, tt.logs)
				}
			})
		})
	}
}
