package models

import (
	"context"
	"fmt"
)

// CountUsersOutside counts the users other than the first one ever created, those named in usernames,
// and those bound to the authenticator boundTo (0: none): what demo mode did not create (web/demo.go).
func (s *Store) CountUsersOutside(ctx context.Context, usernames []string, boundTo int64) (int64, error) {
	var n int64
	q := s.q(ctx).Model(&User{}).
		Where("id <> (SELECT MIN(id) FROM users)").
		Where("NOT EXISTS (SELECT 1 FROM user_authenticators b WHERE b.user_id = users.id AND b.authenticator_id = ?)", boundTo)
	if len(usernames) > 0 {
		q = q.Where("username NOT IN ?", usernames)
	}
	err := q.Count(&n).Error
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
