package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrUnseal is returned for a sealed value that no known key opens.
var ErrUnseal = errors.New("cannot unseal secret: unknown key, tampered value, or a value sealed for another row or purpose")

// Purposes of sealed values: a value sealed for one never opens as another.
const (
	PurposeAuthenticatorSecret = "authenticator.secret"
	PurposeWeComToken          = "wecom_token"
)

// SealedFor names what a sealed value belongs to: its purpose and the identity of its row. Both are
// authenticated with the ciphertext, so a value copied into another row, or used as another kind of
// secret, fails to open.
type SealedFor struct {
	Purpose string
	Row     string
}

// AuthenticatorSecret binds a WeCom app secret to its authenticator. The row identity is the name: it
// is known before the row is inserted (the id is not) and unique; a rename re-seals (see Reseal).
func AuthenticatorSecret(name string) SealedFor {
	return SealedFor{Purpose: PurposeAuthenticatorSecret, Row: name}
}

// WeComTokenFor binds an access token to its wecom_tokens cache key.
func WeComTokenFor(cacheKey string) SealedFor {
	return SealedFor{Purpose: PurposeWeComToken, Row: cacheKey}
}

// Sealer encrypts secrets at rest with AES-256-GCM. A sealed value reads "v2.<key id>.<base64>", where
// the key id names the key that sealed it, so the deployment's secret key can be rotated: the new key
// seals, old keys still open what they sealed. The additional data is the key id, the purpose and the
// row (SealedFor). Values of the first format, "v1.<key id>.<base64>" (additional data: the key id
// only), still open, for any purpose, until they are re-sealed (web.ResealSecrets at start-up).
type Sealer struct {
	currentID string
	keys      map[string]cipher.AEAD
}

// DeriveKey derives a purpose-specific 32-byte key from the deployment's secret key.
func DeriveKey(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "gatehouse "+purpose, 32)
	if err != nil {
		panic(err) // only for a length HKDF cannot produce; 32 always works
	}
	return k
}

// NewSealer seals with current and opens with current or any of previous (all deployment secret keys).
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{keys: map[string]cipher.AEAD{}}
	for i, secret := range append([][]byte{current}, previous...) {
		// The derivation label stays "seal v1": it names the key, not the value format, and v1 values
		// must keep opening with the same keys.
		key := DeriveKey(secret, "seal v1")
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		sum := sha256.Sum256(key)
		id := hex.EncodeToString(sum[:4])
		if i == 0 {
			s.currentID = id
		}
		s.keys[id] = aead
	}
	return s, nil
}

// additionalData encodes the key id and what the value is for, each length-prefixed so that no two
// different triples encode alike.
func additionalData(keyID string, f SealedFor) []byte {
	var b []byte
	for _, part := range []string{"gatehouse seal v2", keyID, f.Purpose, f.Row} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}

// Seal encrypts plaintext for f; the empty string stays empty.
func (s *Sealer) Seal(plaintext string, f SealedFor) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	if f.Purpose == "" || f.Row == "" {
		return "", fmt.Errorf("seal: purpose and row are required (got %q, %q)", f.Purpose, f.Row)
	}
	aead := s.keys[s.currentID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), additionalData(s.currentID, f))
	return "v2." + s.currentID + "." + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value that Seal made for f, with any known key. A v1 value opens whatever f is.
func (s *Sealer) Open(sealed string, f SealedFor) (string, error) {
	if sealed == "" {
		return "", nil
	}
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 {
		return "", ErrUnseal
	}
	var ad []byte
	switch parts[0] {
	case "v2":
		ad = additionalData(parts[1], f)
	case "v1":
		ad = []byte(parts[1])
	default:
		return "", ErrUnseal
	}
	aead, ok := s.keys[parts[1]]
	if !ok {
		return "", ErrUnseal
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrUnseal
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], ad)
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}

// NeedsReseal tells whether a sealed value is of the old format or was sealed with an old key.
func (s *Sealer) NeedsReseal(sealed string) bool {
	return sealed != "" && !strings.HasPrefix(sealed, "v2."+s.currentID+".")
}

// Reseal opens a value sealed for from and seals it for to with the current key (a rename, a v1
// value, or a value sealed with a previous key).
func (s *Sealer) Reseal(sealed string, from, to SealedFor) (string, error) {
	plain, err := s.Open(sealed, from)
	if err != nil {
		return "", err
	}
	return s.Seal(plain, to)
}
