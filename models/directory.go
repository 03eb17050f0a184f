package models

import (
	"context"
	"fmt"
	"time"
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
