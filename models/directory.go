package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// WeCom member statuses as user/get reports them (wecom-directory.md §1).
const (
	MemberActive      = 1
	MemberDisabled    = 2
	MemberNotActive   = 4
	MemberLeft        = 5
	MemberUnavailable = -1 // user/get answered 60111, 60011 or 40003: left, deleted or out of the visible range
)

// DirectoryMember is what WeCom said last about the member behind one binding (DESIGN.md §11).
type DirectoryMember struct {
	BindingID       int64 `gorm:"primaryKey;autoIncrement:false"`
	AuthenticatorID int64 `gorm:"not null;index"`
	UserID          int64 `gorm:"not null;index"`
	Status          int   `gorm:"not null;default:0"`
	// Departments are the member's own department ids; Ancestry those and every ancestor WeCom let the
	// app see (the walk stops at a parent outside the visible range). Group rules match on Ancestry.
	Departments []int64 `gorm:"serializer:json;type:text;not null"`
	Ancestry    []int64 `gorm:"serializer:json;type:text;not null"`
	Tags        []int64 `gorm:"serializer:json;type:text;not null"`
	// SuspendedAt is set while the member has left, is disabled or is unavailable: the binding signs
	// nobody in until WeCom reports the member active again.
	SuspendedAt *time.Time
	RefreshedAt time.Time `gorm:"not null"`
}

// DirectoryDepartment is a department of an authenticator's corp as the app sees it.
type DirectoryDepartment struct {
	AuthenticatorID int64  `gorm:"primaryKey;autoIncrement:false"`
	DeptID          int64  `gorm:"primaryKey;autoIncrement:false"`
	ParentID        int64  `gorm:"not null;default:0"`
	Name            string `gorm:"size:128;not null;default:''"`
	RefreshedAt     time.Time
}

// DirectoryTag is a tag of an authenticator's corp.
type DirectoryTag struct {
	AuthenticatorID int64  `gorm:"primaryKey;autoIncrement:false"`
	TagID           int64  `gorm:"primaryKey;autoIncrement:false"`
	Name            string `gorm:"size:128;not null;default:''"`
	RefreshedAt     time.Time
}

// UserDirectoryMembers loads what WeCom said about each of a user's bound members.
func (s *Store) UserDirectoryMembers(ctx context.Context, userID int64) ([]DirectoryMember, error) {
	var list []DirectoryMember
	err := s.q(ctx).Where("user_id = ?", userID).Order("binding_id").Find(&list).Error
	return list, notFound(err, fmt.Sprintf("directory members of user %d", userID))
}

// SaveDirectoryMember inserts or replaces what WeCom said about one bound member.
func (s *Store) SaveDirectoryMember(ctx context.Context, m *DirectoryMember) error {
	for _, l := range []*[]int64{&m.Departments, &m.Ancestry, &m.Tags} {
		if *l == nil {
			*l = []int64{}
		}
	}
	return notFound(s.q(ctx).Save(m).Error, fmt.Sprintf("save directory member of binding %d", m.BindingID))
}

// suspendedBindings returns the ids of the user's bindings whose member WeCom reported gone.
func (s *Store) suspendedBindings(ctx context.Context, userID int64) (map[int64]bool, error) {
	var ids []int64
	err := s.q(ctx).Model(&DirectoryMember{}).Where("user_id = ? AND suspended_at IS NOT NULL", userID).Pluck("binding_id", &ids).Error
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("suspended bindings of user %d", userID))
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// directoryMember loads what is known about a binding's member, or a fresh record for it.
func (s *Store) directoryMember(ctx context.Context, b Binding) (DirectoryMember, error) {
	var m DirectoryMember
	err := s.q(ctx).Where("binding_id = ?", b.ID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DirectoryMember{BindingID: b.ID, AuthenticatorID: b.AuthenticatorID, UserID: b.UserID}, nil
	}
	return m, notFound(err, fmt.Sprintf("directory member of binding %d", b.ID))
}

// lockMember finds the binding of subject at an authenticator, locks its user's row until the
// transaction ends (so that a cut-off, a return and an unbind are decided one after the other) and
// loads what is known about the member.
func (s *Store) lockMember(ctx context.Context, authenticatorID int64, subject string) (Binding, DirectoryMember, error) {
	b, err := s.BindingBySubject(ctx, authenticatorID, subject)
	if err != nil {
		return b, DirectoryMember{}, err
	}
	if err := s.lockUser(ctx, b.UserID); err != nil {
		return b, DirectoryMember{}, err
	}
	m, err := s.directoryMember(ctx, b)
	return b, m, err
}

// MemberChange is what cutting a member off or letting them back changed.
type MemberChange struct {
	Binding Binding
	User    User
	// Changed is false when the member was already in that state (a repeated event or sweep).
	Changed       bool
	SessionsEnded int64
	// UserDisabled: the user had no other way to sign in and was disabled; UserEnabled: a user the
	// directory had disabled was enabled again.
	UserDisabled, UserEnabled bool
}

// CutOffMember suspends the binding of a member WeCom reports gone (left, disabled, unavailable to the
// app), ends every session of the user and disables a user with no other way to sign in, in one
// transaction (DESIGN.md §11). A subject bound to nobody is ErrNotFound. Repeating it ends sessions
// made since but changes nothing else.
func (s *Store) CutOffMember(ctx context.Context, authenticatorID int64, subject string, status int, now time.Time) (MemberChange, error) {
	var ch MemberChange
	err := s.InTx(ctx, func(tx *Store) error {
		b, m, err := tx.lockMember(ctx, authenticatorID, subject)
		if err != nil {
			return err
		}
		ch.Binding = b
		ch.Changed = m.SuspendedAt == nil || m.Status != status
		if m.SuspendedAt == nil {
			m.SuspendedAt = &now
		}
		m.Status, m.RefreshedAt = status, now
		if err := tx.SaveDirectoryMember(ctx, &m); err != nil {
			return err
		}
		if ch.SessionsEnded, err = tx.RevokeUserSessions(ctx, b.UserID, "", now); err != nil {
			return err
		}
		others, err := tx.otherWaysToSignIn(ctx, b.UserID, b.ID)
		if err != nil {
			return err
		}
		if ch.User, err = tx.UserByID(ctx, b.UserID); err != nil {
			return err
		}
		if others == 0 && !ch.User.Disabled {
			ch.User.Disabled, ch.User.DisabledByDirectory, ch.UserDisabled = true, true, true
			err := tx.q(ctx).Model(&User{}).Where("id = ?", b.UserID).
				Updates(map[string]any{"disabled": true, "disabled_by_directory": true, "updated_at": now}).Error
			return notFound(err, fmt.Sprintf("disable user %d", b.UserID))
		}
		return nil
	})
	return ch, err
}

// RestoreMember lifts the suspension of a member WeCom reports active again and enables the user
// when the directory (never an admin) had disabled them. A subject bound to nobody is ErrNotFound.
func (s *Store) RestoreMember(ctx context.Context, authenticatorID int64, subject string, now time.Time) (MemberChange, error) {
	var ch MemberChange
	err := s.InTx(ctx, func(tx *Store) error {
		b, m, err := tx.lockMember(ctx, authenticatorID, subject)
		if err != nil {
			return err
		}
		ch.Binding = b
		ch.Changed = m.SuspendedAt != nil
		m.SuspendedAt, m.Status, m.RefreshedAt = nil, MemberActive, now
		if err := tx.SaveDirectoryMember(ctx, &m); err != nil {
			return err
		}
		if ch.User, err = tx.UserByID(ctx, b.UserID); err != nil {
			return err
		}
		if ch.User.Disabled && ch.User.DisabledByDirectory {
			ch.User.Disabled, ch.User.DisabledByDirectory, ch.UserEnabled = false, false, true
			err := tx.q(ctx).Model(&User{}).Where("id = ?", b.UserID).
				Updates(map[string]any{"disabled": false, "disabled_by_directory": false, "updated_at": now}).Error
			return notFound(err, fmt.Sprintf("enable user %d", b.UserID))
		}
		return nil
	})
	return ch, err
}
