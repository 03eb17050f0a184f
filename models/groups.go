package models

import (
	"context"
	"fmt"
	"time"
)

// Group is a named set of users made by rules (DESIGN.md §11), one per line:
// dept:<authenticator>:<id>, tag:<authenticator>:<id> or user:<username>.
type Group struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:64;not null;uniqueIndex"`
	Title     string `gorm:"size:128;not null;default:''"`
	Rules     string `gorm:"type:text;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Groups lists every group by name.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	var list []Group
	err := s.q(ctx).Order("name").Find(&list).Error
	return list, notFound(err, "list groups")
}

// Group loads a group by id.
func (s *Store) Group(ctx context.Context, id int64) (Group, error) {
	var g Group
	err := s.q(ctx).First(&g, id).Error
	return g, notFound(err, fmt.Sprintf("group %d", id))
}

// CreateGroup inserts a group; a taken name is ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g *Group) error {
	return notFound(s.q(ctx).Create(g).Error, fmt.Sprintf("create group %q", g.Name))
}

// SaveGroup writes every field of an existing group.
func (s *Store) SaveGroup(ctx context.Context, g *Group) error {
	return notFound(s.q(ctx).Save(g).Error, fmt.Sprintf("save group %q", g.Name))
}

// DeleteGroup removes a group.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	return notFound(s.q(ctx).Delete(&Group{}, id).Error, fmt.Sprintf("delete group %d", id))
}
