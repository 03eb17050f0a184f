package models_test

import (
	"errors"
	"strings"
	"testing"

	"gatehouse/models"
)

var (
	keyOld = []byte("old-secret-key-0123456789abcdef-0123456789")
	keyNew = []byte("new-secret-key-0123456789abcdef-0123456789")
)

// v1Secret was sealed by the first format (additional data: the key id only) with keyOld, by the code
// of commit 5877f9e: "wecom-app-secret-Abc123".
const v1Secret = "v1.3774fbbf.X3k4qrMuaP/y06o4+B2a/9EFcYbXRJ5fvm5gqRp7Qf3/XOS2nFhKhhJa7/CF6yykH15S"

func mustSealer(t *testing.T, current []byte, previous ...[]byte) *models.Sealer {
	t.Helper()
	s, err := models.NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealer(t *testing.T) {
	const secret = "wecom-app-secret-Abc123"
	acme := models.AuthenticatorSecret("acme")
	old := mustSealer(t, keyOld)
	sealed, err := old.Seal(secret, acme)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) || !strings.HasPrefix(sealed, "v2.") {
		t.Fatalf("sealed value %q shows the secret or is not v2", sealed)
	}
	tamper := func(s string) string {
		b := []byte(s)
		i := len(b) - 3
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		opener *models.Sealer
		sealed string
		for_   models.SealedFor
		want   string
		err    error
	}{
		{"round trip with the same key", old, sealed, acme, secret, nil},
		{"tampered ciphertext is refused", old, tamper(sealed), acme, "", models.ErrUnseal},
		{"tampered key id is refused", old, strings.Replace(sealed, "v2.", "v2.0", 1), acme, "", models.ErrUnseal},
		{"unknown version is refused", old, strings.Replace(sealed, "v2.", "v3.", 1), acme, "", models.ErrUnseal},
		{"garbage is refused", old, "not a sealed value", acme, "", models.ErrUnseal},
		{"wrong key is refused", mustSealer(t, keyNew), sealed, acme, "", models.ErrUnseal},
		{"after rotation the old key opens as previous", mustSealer(t, keyNew, keyOld), sealed, acme, secret, nil},
		{"empty stays empty", old, "", acme, "", nil},
		{"a v1 value still opens", old, v1Secret, acme, secret, nil},
		{"a v1 value still opens after rotation", mustSealer(t, keyNew, keyOld), v1Secret, acme, secret, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(tt.sealed, tt.for_)
			if tt.err != nil && !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Fatalf("Open error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Open = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSecuritySealedValueBoundToRowAndPurpose: a sealed value copied into another row, or used as
// another kind of secret, does not open (issue 12: sealed values not bound to their row).
func TestSecuritySealedValueBoundToRowAndPurpose(t *testing.T) {
	s := mustSealer(t, keyNew, keyOld)
	sealed, err := s.Seal("wecom-app-secret", models.AuthenticatorSecret("acme"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := s.Seal("access-token", models.WeComTokenFor("wwcorp:1000002:abcd"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sealed string
		as     models.SealedFor
	}{
		{"secret moved to another authenticator", sealed, models.AuthenticatorSecret("other")},
		{"secret used as an access token", sealed, models.WeComTokenFor("acme")},
		{"token moved to another cache key", token, models.WeComTokenFor("wwcorp:1000002:ffff")},
		{"token used as an authenticator secret", token, models.AuthenticatorSecret("wwcorp:1000002:abcd")},
		{"row and purpose run together differently", sealed, models.SealedFor{Purpose: "authenticator.secretacme", Row: ""}},
		{"a v2 value relabelled v1 to drop the binding", strings.Replace(sealed, "v2.", "v1.", 1), models.AuthenticatorSecret("acme")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := s.Open(tt.sealed, tt.as); !errors.Is(err, models.ErrUnseal) || got != "" {
				t.Fatalf("Open = %q, %v; want ErrUnseal", got, err)
			}
		})
	}
	if _, err := s.Seal("x", models.SealedFor{Purpose: models.PurposeAuthenticatorSecret}); err == nil {
		t.Fatal("sealing without a row identity was accepted")
	}
}

func TestSealerRotationNeedsReseal(t *testing.T) {
	acme := models.AuthenticatorSecret("acme")
	old := mustSealer(t, keyOld)
	rotated := mustSealer(t, keyNew, keyOld)
	sealedOld, _ := old.Seal("s3cret", acme)
	sealedNew, _ := rotated.Seal("s3cret", acme)
	if !rotated.NeedsReseal(sealedOld) {
		t.Error("a value sealed with the previous key should need resealing")
	}
	if !old.NeedsReseal(v1Secret) {
		t.Error("a v1 value should need resealing")
	}
	if rotated.NeedsReseal(sealedNew) {
		t.Error("a value sealed with the current key should not need resealing")
	}
	if rotated.NeedsReseal("") {
		t.Error("an empty value never needs resealing")
	}
	if _, err := old.Open(sealedNew, acme); !errors.Is(err, models.ErrUnseal) {
		t.Errorf("the old key alone opened a value sealed with the new key: %v", err)
	}
	resealed, err := rotated.Reseal(v1Secret, acme, models.AuthenticatorSecret("renamed"))
	if err != nil || rotated.NeedsReseal(resealed) {
		t.Fatalf("Reseal = %q, %v", resealed, err)
	}
	if got, err := rotated.Open(resealed, models.AuthenticatorSecret("renamed")); err != nil || got != "wecom-app-secret-Abc123" {
		t.Fatalf("resealed value opens as %q, %v", got, err)
	}
}

func TestSealerEmptyAndNonDeterministic(t *testing.T) {
	s := mustSealer(t, keyOld)
	acme := models.AuthenticatorSecret("acme")
	if got, err := s.Seal("", acme); err != nil || got != "" {
		t.Fatalf("Seal(\"\") = %q, %v; want empty", got, err)
	}
	a, _ := s.Seal("same text", acme)
	b, _ := s.Seal("same text", acme)
	if a == b {
		t.Fatal("two seals of the same text are equal: the nonce is not random")
	}
	for _, v := range []string{a, b} {
		if got, err := s.Open(v, acme); err != nil || got != "same text" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
}
