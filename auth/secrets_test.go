package auth_test

import (
	"context"
	"errors"
	"testing"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

func wecomInput(name, secret string) auth.WeComInput {
	return auth.WeComInput{Name: name, Title: name, Enabled: true, CorpID: "ww1234567890abcdef", AgentID: "1000002",
		Secret: secret, Origin: "https://gate.example.com"}
}

// TestSecurityAuthenticatorSecretBoundToItsRow: the secret sealed for one authenticator, copied into
// another's row, does not open there; renaming an authenticator keeps its secret readable.
func TestSecurityAuthenticatorSecretBoundToItsRow(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		sealer, err := models.NewSealer([]byte("test-secret-key-0123456789abcdef-0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		w := auth.NewWeCom(s, nil, sealer, auth.WeComBases{}, realNow)
		admin := auth.NewWeComAuthenticators(s, sealer, nil, w, realNow)
		acme, err := admin.Create(ctx, wecomInput("acme", "acme-secret"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := admin.Create(ctx, wecomInput("other", "other-secret"))
		if err != nil {
			t.Fatal(err)
		}

		// Someone with write access to the table copies acme's sealed secret into other's row.
		stolen := other
		stolen.SecretSealed = acme.SecretSealed
		if cfg, err := w.Config(stolen); !errors.Is(err, models.ErrUnseal) || cfg.Secret != "" {
			t.Fatalf("a secret copied from another row opened: %q, %v", cfg.Secret, err)
		}

		// A rename without typing the secret again keeps it readable under the new name.
		in := wecomInput("acme-renamed", "")
		change, err := admin.Update(ctx, acme.ID, in, "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := w.Config(change.After); err != nil || cfg.Secret != "acme-secret" {
			t.Fatalf("after a rename the secret opens as %q, %v", cfg.Secret, err)
		}

		// A stored secret that no longer opens asks for the secret on the next save instead of failing.
		if err := s.DB().Model(&models.Authenticator{}).Where("id = ?", other.ID).UpdateColumn("secret_sealed", acme.SecretSealed).Error; err != nil {
			t.Fatal(err)
		}
		_, err = admin.Update(ctx, other.ID, wecomInput("other-renamed", ""), "")
		if inv, ok := errors.AsType[auth.Invalid](err); !ok || inv["secret"] != "secret_unreadable" {
			t.Fatalf("renaming with an unreadable secret: %v, want a secret_unreadable field error", err)
		}
	})
}
