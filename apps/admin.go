package apps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gatehouse/models"
)

// Audit actions of application administration. Details never hold a client secret.
const (
	ActionCreate = "app.create"
	ActionUpdate = "app.update"
	ActionDelete = "app.delete"
	ActionSecret = "app.secret"
)

// Input is the application form (DESIGN.md §10), as submitted. Lists are one entry a line.
type Input struct {
	Type, Name, Title string
	Enabled           bool
	Access            string
	Groups            []string
	// OIDC apps.
	RedirectURIs, PostLogoutRedirectURIs string
	Public                               bool
	// Proxy apps.
	Domains string
}

// Problem is why one field was refused: a code ("apps.v.<code>" in the catalog) and its arguments.
type Problem struct {
	Code string
	Args []string // name, value pairs for the translation
}

// Invalid maps a form field to what is wrong with it.
type Invalid map[string]Problem

func (e Invalid) Error() string {
	fields := make([]string, 0, len(e))
	for f, p := range e {
		fields = append(fields, f+"="+p.Code)
	}
	slices.Sort(fields)
	return "invalid app: " + strings.Join(fields, ", ")
}

// ErrNoSecret is the refusal to issue a secret to an app that has none: a public client or a proxy app.
var ErrNoSecret = errors.New("this app has no client secret")

// Apps applies the rules of application administration.
type Apps struct {
	store *models.Store
}

// NewApps builds the service.
func NewApps(store *models.Store) *Apps { return &Apps{store: store} }

// Saved is the outcome of a create or an update: the app as stored and, when one was just issued
// (create of a confidential client, or an update that made a public client confidential), its secret,
// to be shown once and never again.
type Saved struct {
	App    models.App
	Secret string
}

// Create validates in and adds the application with a new client id (every type has one, so that it
// is unique) and, for a confidential OIDC client, a new secret stored only as its hash.
func (s *Apps) Create(ctx context.Context, in Input) (Saved, error) {
	a := models.App{ClientID: NewClientID()}
	var out Saved
	err := s.store.InTx(ctx, func(tx *models.Store) error {
		if err := s.validate(ctx, tx, in, &a, true); err != nil {
			return err
		}
		out.Secret = issueSecretIfNeeded(&a)
		return tx.CreateApp(ctx, &a)
	})
	if err != nil {
		return Saved{}, nameConflict(err)
	}
	out.App = a
	return out, nil
}

// Update validates in and saves it over the application id; its type never changes. A client made
// public loses its secret; one made confidential gets a new one.
func (s *Apps) Update(ctx context.Context, id int64, in Input) (Saved, error) {
	var out Saved
	err := s.store.InTx(ctx, func(tx *models.Store) error {
		a, err := tx.App(ctx, id)
		if err != nil {
			return err
		}
		in.Type = a.Type
		if err := s.validate(ctx, tx, in, &a, false); err != nil {
			return err
		}
		out.Secret = issueSecretIfNeeded(&a)
		out.App = a
		return tx.SaveApp(ctx, &a)
	})
	if err != nil {
		return Saved{}, nameConflict(err)
	}
	return out, nil
}

// issueSecretIfNeeded gives a confidential OIDC client without a secret a new one and drops the
// secret of a public client; it returns the new secret, or "".
func issueSecretIfNeeded(a *models.App) string {
	if !a.IsOIDC() || a.Public {
		a.SecretHash = ""
		return ""
	}
	if a.SecretHash != "" {
		return ""
	}
	secret := NewClientSecret()
	a.SecretHash = HashSecret(secret)
	return secret
}

// SetEnabled enables or disables an application.
func (s *Apps) SetEnabled(ctx context.Context, id int64, enabled bool) (models.App, error) {
	var a models.App
	err := s.store.InTx(ctx, func(tx *models.Store) error {
		var err error
		if a, err = tx.App(ctx, id); err != nil {
			return err
		}
		a.Enabled = enabled
		return tx.SaveApp(ctx, &a)
	})
	return a, err
}

// NewSecret replaces a confidential OIDC client's secret with a new one and returns it, to be shown
// once; the old secret stops working at once.
func (s *Apps) NewSecret(ctx context.Context, id int64) (models.App, string, error) {
	var (
		a      models.App
		secret string
	)
	err := s.store.InTx(ctx, func(tx *models.Store) error {
		var err error
		if a, err = tx.App(ctx, id); err != nil {
			return err
		}
		if !a.IsOIDC() || a.Public {
			return fmt.Errorf("app %q: %w", a.Name, ErrNoSecret)
		}
		secret = NewClientSecret()
		a.SecretHash = HashSecret(secret)
		return tx.SaveApp(ctx, &a)
	})
	if err != nil {
		return a, "", err
	}
	return a, secret, nil
}

// Delete removes an application and everything that hangs off it, in one transaction: whatever the
// OIDC provider keeps for the app (grants, codes, tokens) is deleted here too.
func (s *Apps) Delete(ctx context.Context, id int64) error {
	return s.store.InTx(ctx, func(tx *models.Store) error {
		if _, err := tx.App(ctx, id); err != nil {
			return err
		}
		return tx.DeleteApp(ctx, id)
	})
}

// nameConflict turns the database's refusal of a taken name (two admins saving at once) into the
// field error the form shows.
func nameConflict(err error) error {
	if errors.Is(err, models.ErrConflict) {
		return Invalid{"name": {Code: "name_taken"}}
	}
	return err
}
