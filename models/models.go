// Package models holds Gatehouse's data: GORM models, the store with every query, migrations and the
// sealing of secrets at rest. It behaves the same on SQLite and PostgreSQL.
package models

import (
	"time"
)

// User is a person who can sign in.
type User struct {
	ID           int64   `gorm:"primaryKey"`
	Username     string  `gorm:"size:64;not null;uniqueIndex"`
	Nickname     string  `gorm:"size:128;not null;default:''"`
	Email        string  `gorm:"size:254;not null;default:''"`
	Mobile       *string `gorm:"size:32;uniqueIndex"` // normalised (see NormalizeMobile); NULL when unknown
	AvatarURL    string  `gorm:"size:512;not null;default:''"`
	PasswordHash *string `gorm:"size:255"`
	IsAdmin      bool    `gorm:"not null;default:false"`
	Disabled     bool    `gorm:"not null;default:false"`
	// DisabledByDirectory marks a user the directory (§11) disabled when their last way in left
	// WeCom; only such a user is re-enabled when the member comes back.
	DisabledByDirectory bool `gorm:"not null;default:false"`
	CreatedAt           time.Time
	UpdatedAt           time.Time
	LastSigninAt        *time.Time
}

// MobileString returns the mobile number or "".
func (u User) MobileString() string {
	if u.Mobile == nil {
		return ""
	}
	return *u.Mobile
}

// HasPassword tells whether the user can sign in with a password.
func (u User) HasPassword() bool { return u.PasswordHash != nil && *u.PasswordHash != "" }

// DisplayName is the nickname, or the username when there is none.
func (u User) DisplayName() string {
	if u.Nickname != "" {
		return u.Nickname
	}
	return u.Username
}

// Authenticator types.
const (
	TypePassword = "password"
	TypeWeCom    = "wecom"
)

// PasswordAuthenticatorName is the name of the built-in password authenticator row.
const PasswordAuthenticatorName = "password"

// AuthenticatorOptions holds the type-specific settings of an authenticator, stored as JSON.
type AuthenticatorOptions struct {
	CorpID             string `json:"corp_id,omitempty"`
	AgentID            int64  `json:"agent_id,omitempty"`
	Origin             string `json:"origin,omitempty"`
	RedirectPath       string `json:"redirect_path,omitempty"`
	MobileRedirectPath string `json:"mobile_redirect_path,omitempty"`
	AutoSignup         bool   `json:"auto_signup,omitempty"`
	Handoff            bool   `json:"handoff,omitempty"`
	APIBase            string `json:"api_base,omitempty"`
	// LastSeenIP is the server's outbound IP as WeCom reported it in a connection test.
	LastSeenIP string          `json:"last_seen_ip,omitempty"`
	LastTest   *ConnectionTest `json:"last_test,omitempty"`
	// VerifyFile is WeCom's domain verification file, served at its name (see VerifyFileName).
	VerifyFile *VerifyFile `json:"verify_file,omitempty"`
}

// VerifyFile is the WW_verify_<code>.txt file WeCom's trusted-domain check fetches from the domain's root.
type VerifyFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// ConnectionTest is the result of the last connection test of a WeCom authenticator.
type ConnectionTest struct {
	At   time.Time `json:"at"`
	OK   bool      `json:"ok"`
	Code int       `json:"code,omitempty"` // WeCom errcode when not OK
}

// Authenticator is one way to sign in: the built-in password one, or a WeCom corp/app.
type Authenticator struct {
	ID          int64                `gorm:"primaryKey"`
	Name        string               `gorm:"size:64;not null;uniqueIndex"`
	Type        string               `gorm:"size:16;not null"`
	Title       string               `gorm:"size:128;not null;default:''"`
	Description string               `gorm:"size:512;not null;default:''"`
	Enabled     bool                 `gorm:"not null;default:true"`
	Sort        int                  `gorm:"not null;default:0"`
	Options     AuthenticatorOptions `gorm:"serializer:json;type:text;not null"`
	// SecretSealed is the WeCom secret sealed with the Sealer; never put it in a view model.
	SecretSealed string `gorm:"type:text;not null;default:''"`
	AutoLogin    bool   `gorm:"not null;default:false"`
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// EventTokenSealed and EventAESKeySealed are the app's 接收消息 Token and EncodingAESKey, sealed
	// like the secret (EventToken, EventAESKey); both empty when events are not configured.
	EventTokenSealed  string `gorm:"type:text;not null;default:''"`
	EventAESKeySealed string `gorm:"column:event_aes_key_sealed;type:text;not null;default:''"`
}

// IsWeCom tells whether this is a WeCom authenticator.
func (a Authenticator) IsWeCom() bool { return a.Type == TypeWeCom }

// Binding ties a user to an identity at one authenticator (a WeCom userid at one corp/app).
type Binding struct {
	ID              int64  `gorm:"primaryKey"`
	UserID          int64  `gorm:"not null;uniqueIndex:uq_bindings_auth_user,priority:2;index"`
	AuthenticatorID int64  `gorm:"not null;uniqueIndex:uq_bindings_auth_subject,priority:1;uniqueIndex:uq_bindings_auth_user,priority:1"`
	Subject         string `gorm:"size:128;not null;uniqueIndex:uq_bindings_auth_subject,priority:2"`
	CorpID          string `gorm:"size:64;not null;default:''"`
	CreatedAt       time.Time
	LastUsedAt      *time.Time
}

// TableName keeps the table name of DESIGN.md.
func (Binding) TableName() string { return "user_authenticators" }

// Session is a server-side sign-in session. The cookie carries the raw id; the table keeps its hash.
type Session struct {
	ID              string `gorm:"primaryKey;size:64"` // hex SHA-256 of the cookie's id
	UserID          int64  `gorm:"not null;index"`
	CreatedAt       time.Time
	LastSeenAt      time.Time
	ExpiresAt       time.Time `gorm:"not null;index"`
	UserAgent       string    `gorm:"size:512;not null;default:''"`
	IP              string    `gorm:"size:64;not null;default:''"`
	AuthenticatorID *int64
	RevokedAt       *time.Time
}

// WeComToken is the shared access_token cache, one row per corp/app/secret.
type WeComToken struct {
	CacheKey    string `gorm:"primaryKey;size:128"`
	TokenSealed string `gorm:"type:text;not null;default:''"`
	ExpiresAt   time.Time
	RefreshedAt time.Time
}

// TableName keeps the table name of DESIGN.md (GORM would say we_com_tokens).
func (WeComToken) TableName() string { return "wecom_tokens" }

// AuditEvent records something that happened, without secrets.
type AuditEvent struct {
	ID          int64     `gorm:"primaryKey"`
	At          time.Time `gorm:"not null;index"`
	ActorUserID *int64    `gorm:"index"`
	Action      string    `gorm:"size:64;not null;index:idx_audit_action_target,priority:1;index:idx_audit_action_ip,priority:1"`
	Target      string    `gorm:"size:256;not null;default:'';index:idx_audit_action_target,priority:2"`
	IP          string    `gorm:"size:64;not null;default:'';index:idx_audit_action_ip,priority:2"`
	Detail      string    `gorm:"type:text;not null;default:'{}'"` // JSON object
	// Authenticator and Outcome repeat the detail's keys of the same names in their own indexed columns
	// so that the audit log filters by them on both databases (migration 2026120101001).
	Authenticator string `gorm:"size:64;not null;default:''"`
	Outcome       string `gorm:"size:64;not null;default:''"`
}
