package apps

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/gorilla/securecookie"
)

// ShownLifetime is how long a just-issued secret waits for the page that shows it (the redirect after
// create or …/secret): the browser carries it there sealed, and it is shown once.
const ShownLifetime = 2 * time.Minute

// Shown seals a just-issued client secret for the one page that shows it. The secret is stored only as
// a hash, so the create and …/secret handlers hand it to the next page this way: encrypted and
// authenticated with a key derived from the deployment's secret key, bound to the app, expiring fast.
type Shown struct {
	codec *securecookie.SecureCookie
}

// NewShown builds the sealer from a 32-byte key (models.DeriveKey(secretKey, "app secret shown")).
func NewShown(key []byte) *Shown {
	hash := sha256.Sum256(append([]byte("hash "), key...))
	block := sha256.Sum256(append([]byte("block "), key...))
	codec := securecookie.New(hash[:], block[:])
	codec.MaxAge(int(ShownLifetime.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &Shown{codec: codec}
}

// Seal returns the secret sealed for app id.
func (s *Shown) Seal(id int64, secret string) (string, error) {
	return s.codec.Encode(shownName(id), secret)
}

// Open returns the secret sealed for app id, or false when the value is missing, forged, for another
// app or expired.
func (s *Shown) Open(id int64, sealed string) (string, bool) {
	var secret string
	if sealed == "" || s.codec.Decode(shownName(id), sealed, &secret) != nil || secret == "" {
		return "", false
	}
	return secret, true
}

func shownName(id int64) string { return "app-secret-" + strconv.FormatInt(id, 10) }
