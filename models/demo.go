package models

import (
	"context"
	"fmt"
)

// CountUsersOutside counts the users that neither an audit event of action recordedBy names (its target
// is the user's id) nor are bound to the authenticator boundTo (0: none): with the demo's actions, the
// users demo mode did not create (web/demo.go). Ids are never reused (AUTOINCREMENT, sequences), so a
// recorded id cannot come to name a later user.
func (s *Store) CountUsersOutside(ctx context.Context, recordedBy string, boundTo int64) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).
		Where("NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action = ? AND e.target = CAST(users.id AS TEXT))", recordedBy).
		Where("NOT EXISTS (SELECT 1 FROM user_authenticators b WHERE b.user_id = users.id AND b.authenticator_id = ?)", boundTo).
		Count(&n).Error
	return n, notFound(err, "count users outside the demo's")
}

// RetireAuthenticator turns an authenticator and its auto login off, even if it was the last one
// enabled (it cannot work any more, as when demo mode is off); changed says whether it was on. If
// nothing enabled is left, the built-in password authenticator is enabled so that admins can sign in.
func (s *Store) RetireAuthenticator(ctx context.Context, id int64) (changed, passwordEnabled bool, err error) {
	defer s.changedAuthenticators()
	err = s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Model(&Authenticator{}).Where("id = ? AND (enabled OR auto_login)", id).
			UpdateColumns(map[string]any{"enabled": false, "auto_login": false})
		if res.Error != nil {
			return fmt.Errorf("retire authenticator %d: %w", id, res.Error)
		}
		// Only the instance whose update changed the row goes on, so a fleet logs and audits once.
		if changed = res.RowsAffected > 0; !changed {
			return nil
		}
		var enabled int64
		if err := tx.q(ctx).Model(&Authenticator{}).Where("enabled").Count(&enabled).Error; err != nil {
			return fmt.Errorf("count enabled authenticators: %w", err)
		}
		if enabled > 0 {
			return nil
		}
		passwordEnabled = true
		err := tx.q(ctx).Model(&Authenticator{}).Where("name = ? AND type = ?", PasswordAuthenticatorName, TypePassword).UpdateColumn("enabled", true).Error
		return notFound(err, "enable the password authenticator")
	})
	return changed, passwordEnabled, err
}
