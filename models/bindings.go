package models

import (
	"context"
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
