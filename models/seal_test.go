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
	old := mustSealer(t, keyOld)
	sealed, err := old.Seal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) {
		t.Fatalf("sealed value %q shows the secret", sealed)
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
		want   string
		err    error
	}{
		{"round trip with the same key", old, sealed, secret, nil},
		{"tampered ciphertext is refused", old, tamper(sealed), "", models.ErrUnseal},
		{"tampered key id is refused", old, strings.Replace(sealed, "v1.", "v1.0", 1), "", models.ErrUnseal},
		{"unknown version is refused", old, strings.Replace(sealed, "v1.", "v2.", 1), "", models.ErrUnseal},
		{"garbage is refused", old, "not a sealed value", "", models.ErrUnseal},
		{"wrong key is refused", mustSealer(t, keyNew), sealed, "", models.ErrUnseal},
		{"after rotation the old key opens as previous", mustSealer(t, keyNew, keyOld), sealed, secret, nil},
		{"empty stays empty", old, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(tt.sealed)
			if tt.err != nil && !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Fatalf("Open error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Open = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSealerRotationNeedsReseal(t *testing.T) {
	old := mustSealer(t, keyOld)
	rotated := mustSealer(t, keyNew, keyOld)
	sealedOld, _ := old.Seal("s3cret")
	sealedNew, _ := rotated.Seal("s3cret")
	if !rotated.NeedsReseal(sealedOld) {
		t.Error("a value sealed with the previous key should need resealing")
	}
	if rotated.NeedsReseal(sealedNew) {
		t.Error("a value sealed with the current key should not need resealing")
	}
	if rotated.NeedsReseal("") {
		t.Error("an empty value never needs resealing")
	}
	if _, err := old.Open(sealedNew); !errors.Is(err, models.ErrUnseal) {
		t.Errorf("the old key alone opened a value sealed with the new key: %v", err)
	}
}

func TestSealerEmptyAndNonDeterministic(t *testing.T) {
	s := mustSealer(t, keyOld)
	if got, err := s.Seal(""); err != nil || got != "" {
		t.Fatalf("Seal(\"\") = %q, %v; want empty", got, err)
	}
	a, _ := s.Seal("same text")
	b, _ := s.Seal("same text")
	if a == b {
		t.Fatal("two seals of the same text are equal: the nonce is not random")
	}
	for _, v := range []string{a, b} {
		if got, err := s.Open(v); err != nil || got != "same text" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
}
