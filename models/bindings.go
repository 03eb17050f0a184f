package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BindingWithAuthenticator is a binding with its authenticator's name and title, for pages.
type BindingWithAuthenticator struct {
	Binding
	AuthenticatorName  string
	AuthenticatorTitle string
}

// BindingBySubject finds the binding of an identity at one authenticator.
func (s *Store) BindingBySubject(ctx context.Context, authenticatorID int64, subject string) (Binding, error) {
	var b Binding
	err := s.q(ctx).Where("authenticator_id = ? AND subject = ?", authenticatorID, subject).First(&b).Error
	return b, notFound(err, fmt.Sprintf("binding %q at authenticator %d", subject, authenticatorID))
}

// CreateBinding inserts a binding; an identity or user already bound at that authenticator is ErrConflict.
func (s *Store) CreateBinding(ctx context.Context, b *Binding) error {
	return notFound(s.q(ctx).Create(b).Error, fmt.Sprintf("bind user %d at authenticator %d", b.UserID, b.AuthenticatorID))
}

// TouchBinding records that a binding was used to sign in.
func (s *Store) TouchBinding(ctx context.Context, id int64, at time.Time) error {
	return notFound(s.q(ctx).Model(&Binding{}).Where("id = ?", id).UpdateColumn("last_used_at", at).Error, "touch binding")
}

// UserBindings lists a user's bindings with their authenticators.
func (s *Store) UserBindings(ctx context.Context, userID int64) ([]BindingWithAuthenticator, error) {
	var list []BindingWithAuthenticator
	err := s.q(ctx).Table("user_authenticators AS b").
		Select("b.*, a.name AS authenticator_name, a.title AS authenticator_title").
		Joins("JOIN authenticators AS a ON a.id = b.authenticator_id").
		Where("b.user_id = ?", userID).Order("b.id").Scan(&list).Error
	return list, notFound(err, fmt.Sprintf("bindings of user %d", userID))
}

// DeleteUserBinding removes one of a user's bindings and returns it.
func (s *Store) DeleteUserBinding(ctx context.Context, userID, bindingID int64) (Binding, error) {
	var b Binding
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("id = ? AND user_id = ?", bindingID, userID).First(&b).Error; err != nil {
			return notFound(err, fmt.Sprintf("binding %d of user %d", bindingID, userID))
		}
		return notFound(tx.q(ctx).Delete(&Binding{}, bindingID).Error, fmt.Sprintf("delete binding %d", bindingID))
	})
	return b, err
}

// CountBindings counts the bindings of an authenticator.
func (s *Store) CountBindings(ctx context.Context, authenticatorID int64) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&Binding{}).Where("authenticator_id = ?", authenticatorID).Count(&n).Error
	return n, notFound(err, "count bindings")
}

// DeleteAuthenticatorBindings removes every binding of an authenticator and says how many went.
func (s *Store) DeleteAuthenticatorBindings(ctx context.Context, authenticatorID int64) (int64, error) {
	res := s.q(ctx).Where("authenticator_id = ?", authenticatorID).Delete(&Binding{})
	return res.RowsAffected, notFound(res.Error, fmt.Sprintf("delete bindings of authenticator %d", authenticatorID))
}

// UnbindUser deletes one of a user's bindings and, in the same transaction, ends the sessions the
// user made through that binding's authenticator; it returns the binding and how many sessions ended.
func (s *Store) UnbindUser(ctx context.Context, userID, bindingID int64, now time.Time) (Binding, int64, error) {
	var (
		b     Binding
		ended int64
	)
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		if b, err = tx.DeleteUserBinding(ctx, userID, bindingID); err != nil {
			return err
		}
		ended, err = tx.RevokeBindingSessions(ctx, userID, b.AuthenticatorID, now)
		return err
	})
	return b, ended, err
}

// ErrLastSignIn refuses to remove a member's only remaining way to sign in.
var ErrLastSignIn = errors.New("the only way left to sign in")

// lockUser holds the user's row until the transaction ends, so that two changes to one user's ways of
// signing in (two unbinds at once) are decided one after the other. SQLite serialises writers anyway.
func (s *Store) lockUser(ctx context.Context, userID int64) error {
	var ids []int64
	err := s.forUpdate(ctx).Model(&User{}).Where("id = ?", userID).Pluck("id", &ids).Error
	return notFound(err, fmt.Sprintf("lock user %d", userID))
}

// UnbindOwn is UnbindUser for members acting on their own account: it refuses with ErrLastSignIn when
// no other way to sign in would remain (a password while password sign-in is enabled, or another
// binding at an enabled authenticator, made in that authenticator's current corp).
func (s *Store) UnbindOwn(ctx context.Context, userID, bindingID int64, now time.Time) (Binding, int64, error) {
	var (
		b     Binding
		ended int64
	)
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.lockUser(ctx, userID); err != nil {
			return err
		}
		others, err := tx.otherWaysToSignIn(ctx, userID, bindingID)
		if err != nil {
			return err
		}
		if others == 0 {
			return fmt.Errorf("unbind %d of user %d: %w", bindingID, userID, ErrLastSignIn)
		}
		b, ended, err = tx.UnbindUser(ctx, userID, bindingID, now)
		return err
	})
	return b, ended, err
}

// otherWaysToSignIn counts the user's ways to sign in other than the binding except.
func (s *Store) otherWaysToSignIn(ctx context.Context, userID, except int64) (int, error) {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return 0, err
	}
	enabled, err := s.EnabledAuthenticators(ctx)
	if err != nil {
		return 0, err
	}
	byID := map[int64]Authenticator{}
	for _, a := range enabled {
		byID[a.ID] = a
	}
	n := 0
	for _, a := range enabled {
		if a.Type == TypePassword && u.HasPassword() {
			n++
		}
	}
	list, err := s.UserBindings(ctx, userID)
	if err != nil {
		return 0, err
	}
	suspended, err := s.suspendedBindings(ctx, userID)
	if err != nil {
		return 0, err
	}
	found := false
	for _, b := range list {
		if b.ID == except {
			found = true
			continue
		}
		if a, ok := byID[b.AuthenticatorID]; ok && b.CorpID == a.Options.CorpID && !suspended[b.ID] {
			n++
		}
	}
	if !found {
		return 0, fmt.Errorf("binding %d of user %d: %w", except, userID, ErrNotFound)
	}
	return n, nil
}

// CanUnbindOwn tells, for each of the user's bindings, whether the user may remove it themselves.
func (s *Store) CanUnbindOwn(ctx context.Context, userID int64, list []BindingWithAuthenticator) (map[int64]bool, error) {
	out := make(map[int64]bool, len(list))
	for _, b := range list {
		n, err := s.otherWaysToSignIn(ctx, userID, b.ID)
		if err != nil {
			return nil, err
		}
		out[b.ID] = n > 0
	}
	return out, nil
}
