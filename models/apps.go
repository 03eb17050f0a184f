package models

import (
	"context"
	"fmt"
	"time"
)

// Application types (DESIGN.md §10).
const (
	AppTypeOIDC  = "oidc"
	AppTypeProxy = "proxy"
)

// Application access rules: any signed-in, enabled user, or members of the listed groups.
const (
	AccessEveryone = "everyone"
	AccessGroups   = "groups"
)

// App is an application Gatehouse signs people in to: an OpenID Connect client or a set of domains
// behind a reverse proxy's forward-auth.
type App struct {
	ID      int64  `gorm:"primaryKey"`
	Name    string `gorm:"size:64;not null;uniqueIndex"`
	Title   string `gorm:"size:128;not null;default:''"`
	Type    string `gorm:"size:16;not null"`
	Enabled bool   `gorm:"not null"` // no default: GORM would write it for false
	Access  string `gorm:"size:16;not null;default:'everyone'"`
	// Groups holds the names of the groups allowed in when Access is "groups".
	Groups []string `gorm:"serializer:json;type:text;not null"`
	// ClientID is the OIDC client id; random, made at create for every type so that it is unique.
	ClientID string `gorm:"size:64;not null;uniqueIndex"`
	// SecretHash is the hash of the OIDC client secret; empty for a public client and for proxy apps.
	SecretHash             string   `gorm:"size:255;not null;default:''"`
	Public                 bool     `gorm:"not null;default:false"`
	RedirectURIs           []string `gorm:"serializer:json;type:text;not null"`
	PostLogoutRedirectURIs []string `gorm:"serializer:json;type:text;not null"`
	// Domains are the hosts (or *.suffix patterns) a proxy app covers; a host belongs to one app.
	Domains   []string `gorm:"serializer:json;type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IsOIDC tells whether the app is an OpenID Connect client.
func (a App) IsOIDC() bool { return a.Type == AppTypeOIDC }

// IsProxy tells whether the app is protected by forward-auth.
func (a App) IsProxy() bool { return a.Type == AppTypeProxy }

// Apps lists every application by name.
func (s *Store) Apps(ctx context.Context) ([]App, error) {
	var list []App
	err := s.q(ctx).Order("name").Find(&list).Error
	return list, notFound(err, "list apps")
}

// AppsOfType lists the applications of one type, enabled or not, by name.
func (s *Store) AppsOfType(ctx context.Context, typ string) ([]App, error) {
	var list []App
	err := s.q(ctx).Where("type = ?", typ).Order("name").Find(&list).Error
	return list, notFound(err, fmt.Sprintf("list %s apps", typ))
}

// App loads an application by id.
func (s *Store) App(ctx context.Context, id int64) (App, error) {
	var a App
	err := s.q(ctx).First(&a, id).Error
	return a, notFound(err, fmt.Sprintf("app %d", id))
}

// AppByClientID loads an application by its OIDC client id.
func (s *Store) AppByClientID(ctx context.Context, clientID string) (App, error) {
	var a App
	err := s.q(ctx).Where("client_id = ?", clientID).First(&a).Error
	return a, notFound(err, fmt.Sprintf("app with client id %q", clientID))
}

// CreateApp inserts an application; a taken name or client id is ErrConflict.
func (s *Store) CreateApp(ctx context.Context, a *App) error {
	nilToEmpty(a)
	return notFound(s.q(ctx).Create(a).Error, fmt.Sprintf("create app %q", a.Name))
}

// SaveApp writes every field of an existing application.
func (s *Store) SaveApp(ctx context.Context, a *App) error {
	nilToEmpty(a)
	return notFound(s.q(ctx).Save(a).Error, fmt.Sprintf("save app %q", a.Name))
}

// DeleteApp removes an application and what hangs off it: its OIDC authorize requests (and so its
// codes) and its tokens, in one transaction.
func (s *Store) DeleteApp(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("app_id = ?", id).Delete(&OIDCAuthRequest{}).Error; err != nil {
			return notFound(err, fmt.Sprintf("delete authorize requests of app %d", id))
		}
		if err := tx.q(ctx).Where("app_id = ?", id).Delete(&OIDCToken{}).Error; err != nil {
			return notFound(err, fmt.Sprintf("delete tokens of app %d", id))
		}
		return notFound(tx.q(ctx).Delete(&App{}, id).Error, fmt.Sprintf("delete app %d", id))
	})
}

// nilToEmpty stores empty lists as [] rather than null, so the JSON columns read back the same.
func nilToEmpty(a *App) {
	for _, l := range []*[]string{&a.Groups, &a.RedirectURIs, &a.PostLogoutRedirectURIs, &a.Domains} {
		if *l == nil {
			*l = []string{}
		}
	}
}
