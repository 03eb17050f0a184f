package apps

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// NewClientID returns a random client id for a new application.
func NewClientID() string { return random(16) }

// NewClientSecret returns a random client secret, shown to the admin once.
func NewClientSecret() string { return random(32) }

// HashSecret hashes a client secret for storage. The secret is 256 random bits, so a fast hash is as
// strong as a slow one and keeps the token endpoint fast.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckSecret tells whether a client secret matches a stored hash, in constant time.
func CheckSecret(hash, secret string) bool {
	if hash == "" || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
