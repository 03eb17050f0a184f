package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrUnseal is returned for a sealed value that no known key opens.
var ErrUnseal = errors.New("cannot unseal secret: unknown key or tampered value")

// Sealer encrypts secrets at rest with AES-256-GCM. A sealed value reads "v1.<key id>.<base64>", where the
// key id names the key that sealed it, so the deployment's secret key can be rotated: the new key seals,
// old keys still open what they sealed.
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

// Seal encrypts plaintext; the empty string stays empty.
func (s *Sealer) Seal(plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := s.keys[s.currentID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(s.currentID))
	return "v1." + s.currentID + "." + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with any known key.
func (s *Sealer) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
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
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(parts[1]))
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}

// NeedsReseal tells whether a sealed value was sealed with an old key.
func (s *Sealer) NeedsReseal(sealed string) bool {
	return sealed != "" && !strings.HasPrefix(sealed, "v1."+s.currentID+".")
}
