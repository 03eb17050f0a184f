package apps

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/models"
)

// ScopeGroups asks for the groups claim.
const ScopeGroups = "groups"

// client is an OIDC application as the provider library sees it.
type client struct {
	app      models.App
	loginURL string
	idTTL    time.Duration
}

var _ op.Client = client{}

func (c client) GetID() string          { return c.app.ClientID }
func (c client) RedirectURIs() []string { return c.app.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string {
	return c.app.PostLogoutRedirectURIs
}
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

// AuthMethod: a confidential client authenticates with its secret, by HTTP Basic or in the form (the
// library reads either); a public one with PKCE alone.
func (c client) AuthMethod() oidc.AuthMethod {
	if c.app.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes: refresh tokens only for confidential clients (DESIGN.md §10).
func (c client) GrantTypes() []oidc.GrantType {
	if c.app.Public {
		return []oidc.GrantType{oidc.GrantTypeCode}
	}
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c client) LoginURL(id string) string           { return c.loginURL + "?id=" + id }
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return c.idTTL }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) IsScopeAllowed(scope string) bool { return scope == ScopeGroups }

// IDTokenUserinfoClaimsAssertion puts the profile claims in the ID token too: Grafana and oauth2-proxy
// read them there.
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) ClockSkew() time.Duration             { return 0 }

// DevMode lets the library accept an http redirect URI for a public client; Gatehouse's own check
// (CheckAuthorize, and the app form) already allows http only on a loopback host.
func (c client) DevMode() bool { return c.app.Public }

// Subject is the OIDC sub of a user: the user's id, which is never reused (AUTOINCREMENT, sequences),
// so a deleted user's sub never names someone else; not the username, which an admin may change.
func Subject(userID int64) string { return strconv.FormatInt(userID, 10) }

// userIDOf parses a sub back to a user id.
func userIDOf(sub string) (int64, bool) {
	id, err := strconv.ParseInt(sub, 10, 64)
	return id, err == nil && id > 0
}

// sealer encrypts codes and access tokens (the library's Crypto): AES-256-GCM with a key derived from
// the deployment's secret key, so every instance opens what another made. Codes carry the auth
// request's id, which the login URL shows, so they must not be readable. The nonce is an HMAC of the
// plaintext (synthetic IV): what is sealed is always unique (random ids), and the code of a request is
// known when the request is completed, so the hand-off stores its hash in the same write.
type sealer struct {
	aead     cipher.AEAD
	nonceKey []byte
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nk := sha256.Sum256(append([]byte("gatehouse oidc nonce "), key...))
	return &sealer{aead: aead, nonceKey: nk[:]}, nil
}

func (s *sealer) Encrypt(plain string) (string, error) {
	mac := hmac.New(sha256.New, s.nonceKey)
	mac.Write([]byte(plain))
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	copy(nonce, mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)), nil
}

var errBadToken = errors.New("malformed token")

func (s *sealer) Decrypt(token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errBadToken
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], nil)
	if err != nil {
		return "", errBadToken
	}
	return string(plain), nil
}
