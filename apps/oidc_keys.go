package apps

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/models"
)

// keyCacheTTL is how long an instance signs with the key it read last. Another instance's rotation
// reaches it within this time; until then it signs with the previous key, which stays in the key set.
const keyCacheTTL = 30 * time.Second

// keyRetention is how long a retired key stays in the key set: longer than any ID token signed with it
// lives (IDTokenTTL), with room for an id_token_hint at logout.
const keyRetention = 24 * time.Hour

// signingKey is an RS256 key with its id.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

// publicKey is a key of the published key set.
type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

// keyring reads the signing keys from the database, shared by every instance, and keeps them for
// keyCacheTTL: opening a sealed key and parsing it on every token would cost more than the token.
type keyring struct {
	store  *models.Store
	sealer *models.Sealer
	now    func() time.Time

	mu      sync.Mutex
	read    time.Time
	current signingKey
	set     []op.Key
}

// load returns the current key and the key set, from the cache while it is fresh.
func (k *keyring) load(ctx context.Context) (signingKey, []op.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.current.key != nil && now.Sub(k.read) < keyCacheTTL {
		return k.current, k.set, nil
	}
	rows, err := k.store.OIDCKeys(ctx, now.Add(-keyRetention))
	if err != nil {
		return signingKey{}, nil, err
	}
	if len(rows) == 0 || rows[0].Active == nil {
		if err := k.ensureLocked(ctx); err != nil {
			return signingKey{}, nil, err
		}
		if rows, err = k.store.OIDCKeys(ctx, now.Add(-keyRetention)); err != nil {
			return signingKey{}, nil, err
		}
	}
	var current signingKey
	set := make([]op.Key, 0, len(rows))
	for _, r := range rows {
		pk, err := k.open(r)
		if err != nil {
			return signingKey{}, nil, err
		}
		if r.Active != nil && *r.Active {
			current = signingKey{id: r.ID, key: pk}
		}
		set = append(set, publicKey{id: r.ID, key: &pk.PublicKey})
	}
	if current.key == nil {
		return signingKey{}, nil, errors.New("no current OIDC signing key")
	}
	k.current, k.set, k.read = current, set, now
	return current, set, nil
}

func (k *keyring) open(r models.OIDCKey) (*rsa.PrivateKey, error) {
	pemText, err := k.sealer.Open(r.PrivateSealed, models.OIDCKeyFor(r.ID))
	if err != nil {
		return nil, fmt.Errorf("open OIDC signing key %s: %w", r.ID, err)
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("OIDC signing key %s: not PEM", r.ID)
	}
	pk, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("OIDC signing key %s: %w", r.ID, err)
	}
	return pk, nil
}

// ensureLocked makes the first key unless one exists; of instances doing it at once, one wins (the
// unique current key) and the others read its key.
func (k *keyring) ensureLocked(ctx context.Context) error {
	row, err := k.newKey()
	if err != nil {
		return err
	}
	if err := k.store.AddOIDCKey(ctx, &row, false, k.now()); err != nil && !errors.Is(err, models.ErrConflict) {
		return fmt.Errorf("create the first OIDC signing key: %w", err)
	}
	return nil
}

// rotate makes a new current key and retires the old one, which stays in the key set for
// keyRetention. Only when the current key is older than olderThan (0: always).
func (k *keyring) rotate(ctx context.Context, olderThan time.Duration) (bool, error) {
	now := k.now()
	if olderThan > 0 {
		rows, err := k.store.OIDCKeys(ctx, now)
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if r.Active != nil && now.Sub(r.CreatedAt) < olderThan {
				return false, nil
			}
		}
	}
	row, err := k.newKey()
	if err != nil {
		return false, err
	}
	if err := k.store.AddOIDCKey(ctx, &row, true, now); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return false, nil // another instance rotated at the same moment
		}
		return false, fmt.Errorf("rotate OIDC signing key: %w", err)
	}
	k.mu.Lock()
	k.current = signingKey{} // this instance signs with the new key at once
	k.mu.Unlock()
	return true, nil
}

func (k *keyring) newKey() (models.OIDCKey, error) {
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return models.OIDCKey{}, fmt.Errorf("generate OIDC signing key: %w", err)
	}
	id := random(12)
	pemText := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(pk)})
	sealed, err := k.sealer.Seal(string(pemText), models.OIDCKeyFor(id))
	if err != nil {
		return models.OIDCKey{}, err
	}
	return models.OIDCKey{ID: id, PrivateSealed: sealed, CreatedAt: k.now()}, nil
}
