package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OIDC token kinds.
const (
	OIDCAccessToken  = "access"
	OIDCRefreshToken = "refresh"
)

// ErrOIDCCodeReused marks a second use of an authorization code; what the first use issued is revoked.
var ErrOIDCCodeReused = errors.New("authorization code used before")

// OIDCParams are the authorize parameters Gatehouse keeps for the rest of a code flow.
type OIDCParams struct {
	RedirectURI         string   `json:"redirect_uri"`
	Scopes              []string `json:"scopes"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              *uint    `json:"max_age,omitempty"`
	LoginHint           string   `json:"login_hint,omitempty"`
}

// OIDCAuthRequest is one authorize request of an OpenID Connect client, from the authorize endpoint to
// the code's exchange; kept (used) a day after it expires so that a replayed code is recognised.
type OIDCAuthRequest struct {
	ID        string     `gorm:"primaryKey;size:64"`
	AppID     int64      `gorm:"not null;index"`
	ClientID  string     `gorm:"size:64;not null"`
	Params    OIDCParams `gorm:"serializer:json;type:text;not null"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
	// Set when the browser's signed-in user was let through (the login hand-off).
	UserID    *int64
	SessionID string `gorm:"size:64;not null;default:''"`
	AuthTime  *time.Time
	Done      bool `gorm:"not null;default:false"`
	// CodeHash is the SHA-256 of the code issued for it; UsedAt when that code was exchanged.
	CodeHash *string `gorm:"size:64;uniqueIndex"`
	UsedAt   *time.Time
}

// TableName keeps the table name readable.
func (OIDCAuthRequest) TableName() string { return "oidc_auth_requests" }

// OIDCToken is an access or refresh token, stored by the SHA-256 of its secret part. Every token
// belongs to the Gatehouse session it was issued from: it works only while that session is not
// revoked and its user exists and is enabled.
type OIDCToken struct {
	ID      int64  `gorm:"primaryKey"`
	Hash    string `gorm:"size:64;not null;uniqueIndex"`
	Kind    string `gorm:"size:16;not null"`
	GrantID string `gorm:"size:64;not null;index"` // the auth request the chain of tokens descends from
	AppID   int64  `gorm:"not null;index"`
	// ClientID, Scopes and AuthTime are what the token was issued for.
	ClientID  string   `gorm:"size:64;not null"`
	UserID    int64    `gorm:"not null;index"`
	SessionID string   `gorm:"size:64;not null;index"`
	Scopes    []string `gorm:"serializer:json;type:text;not null"`
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
	RevokedAt *time.Time
}

// TableName keeps the table name readable.
func (OIDCToken) TableName() string { return "oidc_tokens" }

// OIDCKey is an RS256 signing key, its private half sealed. Exactly one key is current (Active true,
// unique); retired keys stay in the key set until the tokens they signed have expired.
type OIDCKey struct {
	ID            string `gorm:"primaryKey;size:64"`
	Active        *bool  `gorm:"uniqueIndex"`
	PrivateSealed string `gorm:"type:text;not null"`
	CreatedAt     time.Time
	RetiredAt     *time.Time
}

// TableName keeps the table name readable.
func (OIDCKey) TableName() string { return "oidc_keys" }

// OIDCKeyFor binds a sealed signing key to its key id.
func OIDCKeyFor(kid string) SealedFor { return SealedFor{Purpose: "oidc.signing_key", Row: kid} }

// CreateOIDCAuthRequest inserts an authorize request.
func (s *Store) CreateOIDCAuthRequest(ctx context.Context, r *OIDCAuthRequest) error {
	if r.Params.Scopes == nil {
		r.Params.Scopes = []string{}
	}
	return notFound(s.q(ctx).Create(r).Error, "create oidc auth request")
}

// OIDCAuthRequest loads an authorize request that has not expired at now.
func (s *Store) OIDCAuthRequest(ctx context.Context, id string, now time.Time) (OIDCAuthRequest, error) {
	var r OIDCAuthRequest
	err := s.q(ctx).Where("id = ? AND expires_at > ?", id, now).First(&r).Error
	return r, notFound(err, "oidc auth request")
}

// CompleteOIDCAuthRequest records who the browser's user is for a pending authorize request.
// The hash of the request's code is recorded in the same write (the code is known by then).
func (s *Store) CompleteOIDCAuthRequest(ctx context.Context, id string, userID int64, sessionID, codeHash string, authTime, now time.Time) error {
	res := s.q(ctx).Model(&OIDCAuthRequest{}).Where("id = ? AND expires_at > ? AND code_hash IS NULL", id, now).
		UpdateColumns(map[string]any{"user_id": userID, "session_id": sessionID, "auth_time": authTime, "done": true, "code_hash": codeHash})
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("complete oidc auth request: %w", ErrNotFound)
	}
	return notFound(res.Error, "complete oidc auth request")
}

// SetOIDCCode records the hash of the code issued for a completed authorize request; the hash it has
// already is accepted, any other refused.
func (s *Store) SetOIDCCode(ctx context.Context, id, codeHash string, now time.Time) error {
	res := s.q(ctx).Model(&OIDCAuthRequest{}).Where("id = ? AND done AND (code_hash IS NULL OR code_hash = ?) AND used_at IS NULL AND expires_at > ?", id, codeHash, now).
		UpdateColumn("code_hash", codeHash)
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("save oidc code: %w", ErrNotFound)
	}
	return notFound(res.Error, "save oidc code")
}

// OIDCAuthRequestByCode loads the authorize request of an unused, unexpired code. A code used before
// is ErrOIDCCodeReused, and every token its first use issued is revoked; an unknown or expired one is
// ErrNotFound. The code is marked used when its tokens are made (ClaimOIDCCode).
func (s *Store) OIDCAuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (OIDCAuthRequest, error) {
	var r OIDCAuthRequest
	if err := s.q(ctx).Where("code_hash = ?", codeHash).First(&r).Error; err != nil {
		return r, notFound(err, "oidc code")
	}
	if r.UsedAt != nil {
		if _, err := s.RevokeOIDCGrant(ctx, r.ID, now); err != nil {
			return r, err
		}
		return r, ErrOIDCCodeReused
	}
	if !r.ExpiresAt.After(now) {
		return r, fmt.Errorf("oidc code expired: %w", ErrNotFound)
	}
	return r, nil
}

// ClaimOIDCCode marks an authorize request's code used and inserts the tokens it gives, in one
// transaction. The claim is one conditional UPDATE, so of parallel exchanges of one code one wins;
// the others get ErrOIDCCodeReused, insert nothing, and revoke what the winner issued.
func (s *Store) ClaimOIDCCode(ctx context.Context, requestID string, now time.Time, tokens ...*OIDCToken) error {
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Model(&OIDCAuthRequest{}).Where("id = ? AND used_at IS NULL", requestID).UpdateColumn("used_at", now)
		if res.Error != nil {
			return notFound(res.Error, "claim oidc code")
		}
		if res.RowsAffected == 0 {
			return ErrOIDCCodeReused
		}
		return tx.CreateOIDCTokens(ctx, tokens...)
	})
	if errors.Is(err, ErrOIDCCodeReused) {
		if _, rerr := s.RevokeOIDCGrant(ctx, requestID, now); rerr != nil {
			return rerr
		}
	}
	return err
}

// CreateOIDCTokens inserts tokens.
func (s *Store) CreateOIDCTokens(ctx context.Context, tokens ...*OIDCToken) error {
	for _, t := range tokens {
		if t.Scopes == nil {
			t.Scopes = []string{}
		}
	}
	return notFound(s.q(ctx).Create(tokens).Error, "create oidc tokens")
}

// RotateOIDCRefresh revokes a refresh token and inserts its successors in one transaction; a refresh
// token revoked meanwhile (a parallel rotation) is ErrNotFound and nothing is inserted.
func (s *Store) RotateOIDCRefresh(ctx context.Context, oldHash string, now time.Time, tokens ...*OIDCToken) error {
	return s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Model(&OIDCToken{}).Where("hash = ? AND kind = ? AND revoked_at IS NULL", oldHash, OIDCRefreshToken).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return notFound(res.Error, "rotate refresh token")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("rotate refresh token: %w", ErrNotFound)
		}
		return tx.CreateOIDCTokens(ctx, tokens...)
	})
}

// ActiveOIDCToken loads a token of a kind that is unexpired and unrevoked at now, whose session is not
// revoked, whose user exists and is enabled and whose app exists and is enabled, with that user, in one query. Anything else is
// ErrNotFound.
func (s *Store) ActiveOIDCToken(ctx context.Context, hash, kind string, now time.Time) (OIDCToken, User, error) {
	var row struct {
		User  User      `gorm:"embedded"`
		Token OIDCToken `gorm:"embedded;embeddedPrefix:t_"`
	}
	res := s.q(ctx).Table("oidc_tokens").Select(oidcTokenColumns+", users.*").
		Joins("JOIN sessions ON sessions.id = oidc_tokens.session_id AND sessions.revoked_at IS NULL").
		Joins("JOIN users ON users.id = oidc_tokens.user_id AND users.id = sessions.user_id AND NOT users.disabled").
		Joins("JOIN apps ON apps.id = oidc_tokens.app_id AND apps.enabled").
		Where("oidc_tokens.hash = ? AND oidc_tokens.kind = ? AND oidc_tokens.revoked_at IS NULL AND oidc_tokens.expires_at > ?", hash, kind, now).
		Limit(1).Scan(&row)
	if res.Error != nil {
		return OIDCToken{}, User{}, notFound(res.Error, "oidc token")
	}
	if res.RowsAffected == 0 {
		return OIDCToken{}, User{}, fmt.Errorf("oidc token: %w", ErrNotFound)
	}
	return row.Token, row.User, nil
}

// oidcTokenColumns selects a token's columns with the t_ prefix of ActiveOIDCToken's row.
const oidcTokenColumns = "oidc_tokens.id AS t_id, oidc_tokens.hash AS t_hash, oidc_tokens.kind AS t_kind, oidc_tokens.grant_id AS t_grant_id, " +
	"oidc_tokens.app_id AS t_app_id, oidc_tokens.client_id AS t_client_id, oidc_tokens.user_id AS t_user_id, oidc_tokens.session_id AS t_session_id, " +
	"oidc_tokens.scopes AS t_scopes, oidc_tokens.auth_time AS t_auth_time, oidc_tokens.created_at AS t_created_at, " +
	"oidc_tokens.expires_at AS t_expires_at, oidc_tokens.revoked_at AS t_revoked_at"

// OIDCSessionUser loads a user that exists and is enabled, if the session is theirs and not revoked.
func (s *Store) OIDCSessionUser(ctx context.Context, sessionID string, userID int64) (User, error) {
	var u User
	err := s.q(ctx).Table("users").Select("users.*").
		Joins("JOIN sessions ON sessions.id = ? AND sessions.user_id = users.id AND sessions.revoked_at IS NULL", sessionID).
		Where("users.id = ? AND NOT users.disabled", userID).Take(&u).Error
	return u, notFound(err, "oidc session and user")
}

// OIDCTokenByHash loads a token whatever its state (refresh-token reuse detection, revocation).
func (s *Store) OIDCTokenByHash(ctx context.Context, hash string) (OIDCToken, error) {
	var t OIDCToken
	err := s.q(ctx).Where("hash = ?", hash).First(&t).Error
	return t, notFound(err, "oidc token")
}

// RevokeOIDCToken revokes one token.
func (s *Store) RevokeOIDCToken(ctx context.Context, hash string, now time.Time) error {
	err := s.q(ctx).Model(&OIDCToken{}).Where("hash = ? AND revoked_at IS NULL", hash).UpdateColumn("revoked_at", now).Error
	return notFound(err, "revoke oidc token")
}

// RevokeOIDCGrant revokes every token descending from one authorize request.
func (s *Store) RevokeOIDCGrant(ctx context.Context, grant string, now time.Time) (int64, error) {
	res := s.q(ctx).Model(&OIDCToken{}).Where("grant_id = ? AND revoked_at IS NULL", grant).UpdateColumn("revoked_at", now)
	return res.RowsAffected, notFound(res.Error, "revoke oidc grant")
}

// SweepOIDC deletes authorize requests and tokens that expired before cutoff.
func (s *Store) SweepOIDC(ctx context.Context, cutoff time.Time) (int64, error) {
	a := s.q(ctx).Where("expires_at < ?", cutoff).Delete(&OIDCAuthRequest{})
	if a.Error != nil {
		return 0, notFound(a.Error, "sweep oidc auth requests")
	}
	t := s.q(ctx).Where("expires_at < ?", cutoff).Delete(&OIDCToken{})
	return a.RowsAffected + t.RowsAffected, notFound(t.Error, "sweep oidc tokens")
}

// OIDCKeys lists the current key and the keys retired after retiredAfter, newest first.
func (s *Store) OIDCKeys(ctx context.Context, retiredAfter time.Time) ([]OIDCKey, error) {
	var list []OIDCKey
	err := s.q(ctx).Where("active OR retired_at > ?", retiredAfter).Order("created_at DESC").Find(&list).Error
	return list, notFound(err, "list oidc keys")
}

// AddOIDCKey makes k the current signing key. With retire, the current key is retired at now in the
// same transaction; without it, a current key that exists already is ErrConflict (another instance
// made the first key). Two rotations at once: one wins, the other is ErrConflict.
func (s *Store) AddOIDCKey(ctx context.Context, k *OIDCKey, retire bool, now time.Time) error {
	on := true
	k.Active = &on
	return s.InTx(ctx, func(tx *Store) error {
		if retire {
			err := tx.q(ctx).Model(&OIDCKey{}).Where("active").UpdateColumns(map[string]any{"active": nil, "retired_at": now}).Error
			if err != nil {
				return notFound(err, "retire oidc key")
			}
		}
		return notFound(tx.q(ctx).Create(k).Error, "add oidc key")
	})
}

// OIDCAuthRequestWithApp loads an authorize request that has not expired at now with its app, in one
// query (the login hand-off and the callback need both).
func (s *Store) OIDCAuthRequestWithApp(ctx context.Context, id string, now time.Time) (OIDCAuthRequest, App, error) {
	var row struct {
		Req OIDCAuthRequest `gorm:"embedded;embeddedPrefix:r_"`
		App App             `gorm:"embedded"`
	}
	res := s.q(ctx).Table("oidc_auth_requests").Select(oidcAuthRequestColumns+", apps.*").
		Joins("JOIN apps ON apps.id = oidc_auth_requests.app_id").
		Where("oidc_auth_requests.id = ? AND oidc_auth_requests.expires_at > ?", id, now).Limit(1).Scan(&row)
	if res.Error != nil {
		return OIDCAuthRequest{}, App{}, notFound(res.Error, "oidc auth request")
	}
	if res.RowsAffected == 0 {
		return OIDCAuthRequest{}, App{}, fmt.Errorf("oidc auth request: %w", ErrNotFound)
	}
	return row.Req, row.App, nil
}

// oidcAuthRequestColumns selects an authorize request's columns with the r_ prefix.
const oidcAuthRequestColumns = "oidc_auth_requests.id AS r_id, oidc_auth_requests.app_id AS r_app_id, oidc_auth_requests.client_id AS r_client_id, " +
	"oidc_auth_requests.params AS r_params, oidc_auth_requests.created_at AS r_created_at, oidc_auth_requests.expires_at AS r_expires_at, " +
	"oidc_auth_requests.user_id AS r_user_id, oidc_auth_requests.session_id AS r_session_id, oidc_auth_requests.auth_time AS r_auth_time, " +
	"oidc_auth_requests.done AS r_done, oidc_auth_requests.code_hash AS r_code_hash, oidc_auth_requests.used_at AS r_used_at"
