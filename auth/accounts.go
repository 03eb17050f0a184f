package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/models"
)

// Invalid maps form fields to the codes of what is wrong with them ("required", "taken", ...); the
// handlers translate each code as "validation.<code>".
type Invalid map[string]string

func (e Invalid) Error() string { return fmt.Sprintf("invalid input: %v", map[string]string(e)) }

// UserInput is what an administrator submits to create or change a user.
type UserInput struct {
	Username, Nickname, Email, Mobile string
	// Password is set when not empty (optional on create; empty on edit keeps the current one).
	Password          string
	IsAdmin, Disabled bool
}

// Accounts applies the rules of user administration: valid, unique fields; the last active admin
// cannot be demoted or disabled; disabling a user ends their sessions.
type Accounts struct {
	store *models.Store
	now   func() time.Time
}

// NewAccounts builds the service.
func NewAccounts(store *models.Store, now func() time.Time) *Accounts {
	return &Accounts{store: store, now: now}
}

// validate checks the fields and fills u from in; mobile is normalised.
func (a *Accounts) validate(ctx context.Context, s *models.Store, in UserInput, u *models.User, creating bool) error {
	bad := Invalid{}
	// PostgreSQL refuses NUL and invalid UTF-8 in text; say so beside the field instead of failing
	// the INSERT with a 500. The password is never stored, but it must be typeable to be usable.
	fields := map[string]string{"username": in.Username, "nickname": in.Nickname, "email": in.Email, "mobile": in.Mobile, "password": in.Password}
	for field, v := range fields {
		if !models.TextOK(v) {
			bad[field] = "text_invalid"
		}
	}
	if creating && bad["username"] == "" {
		switch {
		case strings.TrimSpace(in.Username) == "":
			bad["username"] = "required"
		case !models.ValidUsername(strings.TrimSpace(in.Username)):
			bad["username"] = "username"
		default:
			taken, err := s.UsernameTaken(ctx, in.Username, 0)
			if err != nil {
				return err
			}
			if taken {
				bad["username"] = "username_taken"
			}
		}
		u.Username = models.NormalizeUsername(in.Username)
	}
	if bad["nickname"] == "" && utf8.RuneCountInString(in.Nickname) > 128 {
		bad["nickname"] = "too_long"
	}
	u.Nickname = strings.TrimSpace(in.Nickname)
	u.Email = strings.TrimSpace(in.Email)
	if u.Email != "" && bad["email"] == "" {
		if addr, err := mail.ParseAddress(u.Email); err != nil || addr.Address != u.Email || len(u.Email) > 254 {
			bad["email"] = "email"
		}
	}
	u.Mobile = nil
	if m, err := models.NormalizeMobile(in.Mobile); err != nil {
		if bad["mobile"] == "" {
			bad["mobile"] = "mobile"
		}
	} else if m != "" {
		taken, err := s.MobileTaken(ctx, m, u.ID)
		if err != nil {
			return err
		}
		if taken {
			bad["mobile"] = "mobile_taken"
		}
		u.Mobile = &m
	}
	if in.Password != "" && bad["password"] == "" {
		if len(in.Password) < MinPasswordLength {
			bad["password"] = "password_short"
		} else if len(in.Password) > 72 {
			bad["password"] = "password_long"
		}
	}
	if !creating && u.IsAdmin && !u.Disabled && (!in.IsAdmin || in.Disabled) {
		others, err := s.CountActiveAdmins(ctx, u.ID)
		if err != nil {
			return err
		}
		if others == 0 {
			if !in.IsAdmin {
				bad["is_admin"] = "last_admin"
			} else {
				bad["disabled"] = "last_admin"
			}
		}
	}
	if len(bad) > 0 {
		return bad
	}
	if in.Password != "" {
		h, err := HashPassword(in.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = &h
	}
	if u.Disabled != in.Disabled {
		// An admin's decision replaces the directory's: a member back in WeCom does not undo it.
		u.DisabledByDirectory = false
	}
	u.IsAdmin, u.Disabled = in.IsAdmin, in.Disabled
	return nil
}

// Create adds a user. It returns Invalid for bad input.
func (a *Accounts) Create(ctx context.Context, in UserInput) (models.User, error) {
	var u models.User
	err := a.store.InTx(ctx, func(tx *models.Store) error {
		if err := a.validate(ctx, tx, in, &u, true); err != nil {
			return err
		}
		return tx.CreateUser(ctx, &u)
	})
	return u, conflictAsInvalid(err)
}

// Update changes a user. Disabling a user ends their sessions.
func (a *Accounts) Update(ctx context.Context, id int64, in UserInput) (models.User, error) {
	var u models.User
	err := a.store.InTx(ctx, func(tx *models.Store) error {
		// Before reading anything: the last-admin check below must count what a concurrent change
		// to another admin committed (two admins demoting each other at once both passed).
		if err := tx.LockActiveAdmins(ctx); err != nil {
			return err
		}
		var err error
		if u, err = tx.UserByID(ctx, id); err != nil {
			return err
		}
		wasDisabled := u.Disabled
		if err := a.validate(ctx, tx, in, &u, false); err != nil {
			return err
		}
		if err := tx.SaveUser(ctx, &u); err != nil {
			return err
		}
		if u.Disabled && !wasDisabled {
			_, err = tx.RevokeUserSessions(ctx, u.ID, "", a.now())
		}
		return err
	})
	return u, conflictAsInvalid(err)
}

// conflictAsInvalid reports a unique-index race (two admins saving at once) as a field error.
func conflictAsInvalid(err error) error {
	if errors.Is(err, models.ErrConflict) {
		if strings.Contains(err.Error(), "mobile") {
			return Invalid{"mobile": "mobile_taken"}
		}
		return Invalid{"username": "username_taken"}
	}
	return err
}
