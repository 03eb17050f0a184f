package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrLastEnabled is returned when a change would leave no enabled authenticator.
var ErrLastEnabled = errors.New("the last enabled authenticator cannot be disabled or deleted")

// ErrAutoLoginTaken is returned when a second enabled authenticator would get auto login.
var ErrAutoLoginTaken = errors.New("another enabled authenticator already has auto login")

// Authenticators lists every authenticator in sign-in page order.
func (s *Store) Authenticators(ctx context.Context) ([]Authenticator, error) {
	var list []Authenticator
	err := s.q(ctx).Order("sort, id").Find(&list).Error
	return list, notFound(err, "list authenticators")
}

// EnabledAuthenticators lists the enabled authenticators in sign-in page order. Outside a transaction
// the list comes from a cache that lives a second (see authenticatorCacheTTL).
func (s *Store) EnabledAuthenticators(ctx context.Context) ([]Authenticator, error) {
	now := time.Now()
	if !s.inTx {
		if list, ok := s.auths.get(now); ok {
			return list, nil
		}
	}
	var list []Authenticator
	if err := s.q(ctx).Where("enabled").Order("sort, id").Find(&list).Error; err != nil {
		return nil, notFound(err, "list enabled authenticators")
	}
	if !s.inTx {
		s.auths.put(list, now)
	}
	return list, nil
}

// changedAuthenticators drops the cached list after a change.
func (s *Store) changedAuthenticators() { s.auths.forget() }

// AuthenticatorByID loads one authenticator.
func (s *Store) AuthenticatorByID(ctx context.Context, id int64) (Authenticator, error) {
	var a Authenticator
	err := s.q(ctx).First(&a, id).Error
	return a, notFound(err, fmt.Sprintf("authenticator %d", id))
}

// AuthenticatorByName loads one authenticator by its URL name.
func (s *Store) AuthenticatorByName(ctx context.Context, name string) (Authenticator, error) {
	var a Authenticator
	err := s.q(ctx).Where("name = ?", name).First(&a).Error
	return a, notFound(err, fmt.Sprintf("authenticator %q", name))
}

// EnabledAuthenticatorByName finds an enabled authenticator by name in the cached list (see
// EnabledAuthenticators): the WeCom start and callback look it up on every sign-in.
func (s *Store) EnabledAuthenticatorByName(ctx context.Context, name string) (Authenticator, error) {
	list, err := s.EnabledAuthenticators(ctx)
	if err != nil {
		return Authenticator{}, err
	}
	for _, a := range list {
		if a.Name == name {
			return a, nil
		}
	}
	return Authenticator{}, fmt.Errorf("enabled authenticator %q: %w", name, ErrNotFound)
}

// AutoLoginAuthenticator returns the enabled authenticator with auto login, if any.
func (s *Store) AutoLoginAuthenticator(ctx context.Context) (Authenticator, error) {
	list, err := s.EnabledAuthenticators(ctx)
	if err != nil {
		return Authenticator{}, err
	}
	for _, a := range list {
		if a.AutoLogin && a.Type == TypeWeCom {
			return a, nil
		}
	}
	return Authenticator{}, fmt.Errorf("auto-login authenticator: %w", ErrNotFound)
}

// CreateAuthenticator inserts a; a taken name or a second auto login is ErrConflict / ErrAutoLoginTaken.
func (s *Store) CreateAuthenticator(ctx context.Context, a *Authenticator) error {
	defer s.changedAuthenticators()
	what := fmt.Sprintf("create authenticator %q", a.Name)
	if err := s.checkAutoLogin(ctx, a); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.InTx(ctx, func(tx *Store) error {
		// GORM replaces a zero value by the column's default (enabled: true) on insert, so a disabled
		// authenticator is inserted without auto login and then given its real enabled and auto_login.
		enabled, autoLogin := a.Enabled, a.AutoLogin
		a.AutoLogin = false
		err := tx.q(ctx).Create(a).Error
		a.Enabled, a.AutoLogin = enabled, autoLogin
		if err != nil {
			return autoLoginConflict(err, what)
		}
		if enabled && !autoLogin {
			return nil
		}
		err = tx.q(ctx).Model(&Authenticator{}).Where("id = ?", a.ID).UpdateColumns(map[string]any{"enabled": enabled, "auto_login": autoLogin}).Error
		return autoLoginConflict(err, what)
	})
}

// checkAutoLogin refuses a with auto login while another enabled authenticator has it. The partial
// unique index enforces the same under races; this check names the problem on every database (SQLite
// does not say which index refused a row).
func (s *Store) checkAutoLogin(ctx context.Context, a *Authenticator) error {
	if !a.Enabled || !a.AutoLogin {
		return nil
	}
	var n int64
	if err := s.q(ctx).Model(&Authenticator{}).Where("enabled AND auto_login AND id <> ?", a.ID).Count(&n).Error; err != nil {
		return fmt.Errorf("check auto login: %w", err)
	}
	if n > 0 {
		return ErrAutoLoginTaken
	}
	return nil
}

// SaveAuthenticator writes every field of a, refusing to leave no enabled authenticator.
func (s *Store) SaveAuthenticator(ctx context.Context, a *Authenticator) error {
	defer s.changedAuthenticators()
	return s.InTx(ctx, func(tx *Store) error {
		if !a.Enabled {
			if err := tx.checkNotLastEnabled(ctx, a.ID); err != nil {
				return err
			}
		}
		if err := tx.checkAutoLogin(ctx, a); err != nil {
			return fmt.Errorf("save authenticator %q: %w", a.Name, err)
		}
		return autoLoginConflict(tx.q(ctx).Save(a).Error, fmt.Sprintf("save authenticator %q", a.Name))
	})
}

// UpdateAuthenticatorStatus records what Gatehouse learnt about an authenticator (the outbound IP
// WeCom reported, the last connection test) without touching its settings: fn changes the options
// read inside one transaction (the row locked on PostgreSQL; SQLite's immediate transactions
// serialise), and only the options column is written, so an admin's edit saved meanwhile is kept.
func (s *Store) UpdateAuthenticatorStatus(ctx context.Context, id int64, fn func(*AuthenticatorOptions)) error {
	defer s.changedAuthenticators()
	what := fmt.Sprintf("update status of authenticator %d", id)
	return s.InTx(ctx, func(tx *Store) error {
		var a Authenticator
		if err := tx.forUpdate(ctx).First(&a, id).Error; err != nil {
			return notFound(err, what)
		}
		fn(&a.Options)
		raw, err := json.Marshal(a.Options)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return notFound(tx.q(ctx).Model(&Authenticator{}).Where("id = ?", id).UpdateColumn("options", string(raw)).Error, what)
	})
}

// autoLoginConflict tells a second auto login (the partial unique index) apart from a taken name.
func autoLoginConflict(err error, what string) error {
	if err != nil && strings.Contains(err.Error(), "auto_login") {
		return fmt.Errorf("%s: %w", what, ErrAutoLoginTaken)
	}
	return notFound(err, what)
}

// checkNotLastEnabled refuses to disable or delete id when no other authenticator is enabled. Run
// inside the transaction that makes the change: on PostgreSQL it locks the enabled rows (in id order,
// so two admins never deadlock), so a second admin disabling another one at the same moment waits
// and then sees this change; SQLite's immediate transactions already serialise writers.
func (s *Store) checkNotLastEnabled(ctx context.Context, id int64) error {
	var ids []int64
	if err := s.forUpdate(ctx).Model(&Authenticator{}).Where("enabled").Order("id").Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("lock enabled authenticators: %w", err)
	}
	for _, other := range ids {
		if other != id {
			return nil
		}
	}
	return ErrLastEnabled
}

// DeleteAuthenticator removes an authenticator with its bindings, never the last enabled one.
func (s *Store) DeleteAuthenticator(ctx context.Context, id int64) error {
	defer s.changedAuthenticators()
	return s.InTx(ctx, func(tx *Store) error {
		a, err := tx.AuthenticatorByID(ctx, id)
		if err != nil {
			return err
		}
		if a.Enabled {
			if err := tx.checkNotLastEnabled(ctx, id); err != nil {
				return err
			}
		}
		if err := tx.q(ctx).Where("authenticator_id = ?", id).Delete(&Binding{}).Error; err != nil {
			return fmt.Errorf("delete bindings of authenticator %d: %w", id, err)
		}
		if _, err := tx.DropAuthenticatorFromGroups(ctx, a.Name); err != nil {
			return err
		}
		return notFound(tx.q(ctx).Delete(&Authenticator{}, id).Error, fmt.Sprintf("delete authenticator %d", id))
	})
}

// MoveAuthenticator swaps an authenticator with its neighbour (up: -1, down: +1) in sign-in order, and
// renumbers every sort so that the order is explicit afterwards.
func (s *Store) MoveAuthenticator(ctx context.Context, id int64, delta int) error {
	defer s.changedAuthenticators()
	return s.InTx(ctx, func(tx *Store) error {
		list, err := tx.Authenticators(ctx)
		if err != nil {
			return err
		}
		i := -1
		for k := range list {
			if list[k].ID == id {
				i = k
			}
		}
		if i < 0 {
			return fmt.Errorf("move authenticator %d: %w", id, ErrNotFound)
		}
		if j := i + delta; j >= 0 && j < len(list) {
			list[i], list[j] = list[j], list[i]
		}
		for k := range list {
			if err := tx.q(ctx).Model(&Authenticator{}).Where("id = ?", list[k].ID).UpdateColumns(map[string]any{"sort": (k + 1) * 10, "updated_at": time.Now().UTC()}).Error; err != nil {
				return fmt.Errorf("renumber authenticator %d: %w", list[k].ID, err)
			}
		}
		return nil
	})
}

// CountAuthenticators counts all and enabled authenticators.
func (s *Store) CountAuthenticators(ctx context.Context) (all, enabled int64, err error) {
	if err = s.q(ctx).Model(&Authenticator{}).Count(&all).Error; err != nil {
		return 0, 0, fmt.Errorf("count authenticators: %w", err)
	}
	err = s.q(ctx).Model(&Authenticator{}).Where("enabled").Count(&enabled).Error
	return all, enabled, notFound(err, "count enabled authenticators")
}

// ToggleAuthenticator saves a's enabled switch; disabling it also ends the sessions made through it
// (but keepHash, the acting admin's own), in the same transaction. It returns how many ended.
func (s *Store) ToggleAuthenticator(ctx context.Context, a *Authenticator, keepHash string, now time.Time) (int64, error) {
	var ended int64
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.SaveAuthenticator(ctx, a); err != nil || a.Enabled {
			return err
		}
		var err error
		ended, err = tx.RevokeAuthenticatorSessions(ctx, a.ID, keepHash, now)
		return err
	})
	return ended, err
}

// RemoveAuthenticator deletes an authenticator with its bindings (never the last enabled one) and
// ends the sessions made through it (but keepHash, the acting admin's own), in one transaction; it
// says how many bindings and sessions went.
func (s *Store) RemoveAuthenticator(ctx context.Context, id int64, keepHash string, now time.Time) (bindings, sessions int64, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		var err error
		if bindings, err = tx.CountBindings(ctx, id); err != nil {
			return err
		}
		if sessions, err = tx.RevokeAuthenticatorSessions(ctx, id, keepHash, now); err != nil {
			return err
		}
		return tx.DeleteAuthenticator(ctx, id)
	})
	return bindings, sessions, err
}

// SetVerifyFile stores (or, with nil, removes) an authenticator's domain verification file, leaving its
// settings alone.
func (s *Store) SetVerifyFile(ctx context.Context, id int64, f *VerifyFile) error {
	return s.UpdateAuthenticatorStatus(ctx, id, func(o *AuthenticatorOptions) { o.VerifyFile = f })
}

// VerifyFileByName is the domain verification file of that exact name on any authenticator, or
// ErrNotFound.
func (s *Store) VerifyFileByName(ctx context.Context, name string) (VerifyFile, error) {
	list, err := s.Authenticators(ctx)
	if err != nil {
		return VerifyFile{}, err
	}
	for _, a := range list {
		if f := a.Options.VerifyFile; f != nil && f.Name == name {
			return *f, nil
		}
	}
	return VerifyFile{}, ErrNotFound
}
