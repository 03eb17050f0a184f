package models

import (
	"context"
	"fmt"
	"time"
)

// CreateSession inserts a new session row.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	return notFound(s.q(ctx).Create(sess).Error, "create session")
}

// ActiveSession loads a session that is neither revoked nor expired at now, with its user.
func (s *Store) ActiveSession(ctx context.Context, idHash string, now time.Time) (Session, User, error) {
	var sess Session
	err := s.q(ctx).Where("id = ? AND revoked_at IS NULL AND expires_at > ?", idHash, now).First(&sess).Error
	if err != nil {
		return sess, User{}, notFound(err, "active session")
	}
	u, err := s.UserByID(ctx, sess.UserID)
	return sess, u, err
}

// TouchSession records activity and moves the idle expiry.
func (s *Store) TouchSession(ctx context.Context, idHash string, now, expiresAt time.Time) error {
	err := s.q(ctx).Model(&Session{}).Where("id = ?", idHash).
		UpdateColumns(map[string]any{"last_seen_at": now, "expires_at": expiresAt}).Error
	return notFound(err, "touch session")
}

// RevokeSession ends one session.
func (s *Store) RevokeSession(ctx context.Context, idHash string, now time.Time) error {
	err := s.q(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", idHash).UpdateColumn("revoked_at", now).Error
	return notFound(err, "revoke session")
}

// RevokeUserSession ends one of a user's sessions; it answers ErrNotFound when the session is not theirs.
func (s *Store) RevokeUserSession(ctx context.Context, userID int64, idHash string, now time.Time) error {
	res := s.q(ctx).Model(&Session{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL", idHash, userID).UpdateColumn("revoked_at", now)
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("revoke session of user %d: %w", userID, ErrNotFound)
	}
	return notFound(res.Error, "revoke session")
}

// RevokeUserSessions ends every session of a user except keepHash ("" keeps none) and says how many.
func (s *Store) RevokeUserSessions(ctx context.Context, userID int64, keepHash string, now time.Time) (int64, error) {
	res := s.q(ctx).Model(&Session{}).Where("user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?", userID, keepHash, now).UpdateColumn("revoked_at", now)
	return res.RowsAffected, notFound(res.Error, fmt.Sprintf("revoke sessions of user %d", userID))
}

// UserSessions lists a user's live sessions, most recently used first.
func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	var list []Session
	err := s.q(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).Order("last_seen_at DESC").Find(&list).Error
	return list, notFound(err, "list sessions")
}

// CountActiveSessions counts live sessions, for the dashboard.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&Session{}).Where("revoked_at IS NULL AND expires_at > ?", now).Count(&n).Error
	return n, notFound(err, "count sessions")
}

// DeleteOldSessions removes sessions that ended before cutoff; they are kept a while for the account page.
func (s *Store) DeleteOldSessions(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.q(ctx).Where("expires_at < ? OR revoked_at < ?", cutoff, cutoff).Delete(&Session{})
	return res.RowsAffected, notFound(res.Error, "delete old sessions")
}

// RevokeAuthenticatorSessions ends every live session made through an authenticator (disabled,
// deleted, or moved to another corp) except keepHash (the acting admin's own, "" keeps none) and
// says how many.
func (s *Store) RevokeAuthenticatorSessions(ctx context.Context, authenticatorID int64, keepHash string, now time.Time) (int64, error) {
	res := s.q(ctx).Model(&Session{}).Where("authenticator_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?", authenticatorID, keepHash, now).UpdateColumn("revoked_at", now)
	return res.RowsAffected, notFound(res.Error, fmt.Sprintf("revoke sessions of authenticator %d", authenticatorID))
}

// RevokeBindingSessions ends the live sessions a user made through one authenticator (after the
// binding is deleted) and says how many.
func (s *Store) RevokeBindingSessions(ctx context.Context, userID, authenticatorID int64, now time.Time) (int64, error) {
	res := s.q(ctx).Model(&Session{}).Where("user_id = ? AND authenticator_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, authenticatorID, now).UpdateColumn("revoked_at", now)
	return res.RowsAffected, notFound(res.Error, fmt.Sprintf("revoke sessions of user %d at authenticator %d", userID, authenticatorID))
}
