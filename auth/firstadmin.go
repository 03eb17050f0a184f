package auth

import (
	"context"
	"crypto/rand"
	"log/slog"

	"gatehouse/models"
)

// EnsureFirstAdmin creates the first administrator when no user exists. Without a configured password
// it generates one and logs it once: the only time it is ever shown.
func EnsureFirstAdmin(ctx context.Context, s *models.Store, username, password string, log *slog.Logger) error {
	n, err := s.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = rand.Text()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u := models.User{Username: username, Nickname: "Administrator", PasswordHash: &hash, IsAdmin: true}
	if err := s.CreateUser(ctx, &u); err != nil {
		return err
	}
	if err := s.Audit(ctx, models.Event{Action: models.ActionSystemBoot, Target: u.Username}); err != nil {
		return err
	}
	if generated {
		log.Warn("created the first admin with a random password; sign in and change it, it is not shown again",
			"username", u.Username, "password", password)
	} else {
		log.Info("created the first admin from GATEHOUSE_ADMIN_USERNAME/_PASSWORD", "username", u.Username)
	}
	return nil
}
