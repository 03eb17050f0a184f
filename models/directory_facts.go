package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DirectoryMemberOf loads what WeCom said last about a binding's member; found is false when nothing
// was recorded yet.
func (s *Store) DirectoryMemberOf(ctx context.Context, bindingID int64) (DirectoryMember, bool, error) {
	var m DirectoryMember
	err := s.q(ctx).Where("binding_id = ?", bindingID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m, false, nil
	}
	return m, err == nil, notFound(err, fmt.Sprintf("directory member of binding %d", bindingID))
}

// SaveDirectoryFacts records a refresh of a member's status, departments and tags, never touching
// SuspendedAt: a cut-off that lands between the refresh's read and this write stays in force (and so
// does the status it recorded while the binding is suspended).
func (s *Store) SaveDirectoryFacts(ctx context.Context, m *DirectoryMember) error {
	for _, l := range []*[]int64{&m.Departments, &m.Ancestry, &m.Tags} {
		if *l == nil {
			*l = []int64{}
		}
	}
	m.SuspendedAt = nil // an insert never suspends; an update leaves the column alone
	err := s.q(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "binding_id"}},
		DoUpdates: clause.Assignments(map[string]any{
			"status":       gorm.Expr("CASE WHEN directory_members.suspended_at IS NULL THEN excluded.status ELSE directory_members.status END"),
			"departments":  gorm.Expr("excluded.departments"),
			"ancestry":     gorm.Expr("excluded.ancestry"),
			"tags":         gorm.Expr("excluded.tags"),
			"refreshed_at": gorm.Expr("excluded.refreshed_at"),
		}),
	}).Create(m).Error
	return notFound(err, fmt.Sprintf("save directory facts of binding %d", m.BindingID))
}

// DirectoryDepartments lists the departments known for an authenticator, by id.
func (s *Store) DirectoryDepartments(ctx context.Context, authenticatorID int64) ([]DirectoryDepartment, error) {
	var list []DirectoryDepartment
	err := s.q(ctx).Where("authenticator_id = ?", authenticatorID).Order("dept_id").Find(&list).Error
	return list, notFound(err, fmt.Sprintf("directory departments of authenticator %d", authenticatorID))
}

// DirectoryTags lists the tags known for an authenticator, by id.
func (s *Store) DirectoryTags(ctx context.Context, authenticatorID int64) ([]DirectoryTag, error) {
	var list []DirectoryTag
	err := s.q(ctx).Where("authenticator_id = ?", authenticatorID).Order("tag_id").Find(&list).Error
	return list, notFound(err, fmt.Sprintf("directory tags of authenticator %d", authenticatorID))
}

// ReplaceDirectoryTree records the departments and tags an authenticator's app sees now, in one
// transaction: rows WeCom no longer lists are removed, the others inserted or updated.
func (s *Store) ReplaceDirectoryTree(ctx context.Context, authenticatorID int64, depts []DirectoryDepartment, tags []DirectoryTag, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		deptIDs := make([]int64, 0, len(depts))
		for i := range depts {
			depts[i].AuthenticatorID, depts[i].RefreshedAt = authenticatorID, now
			deptIDs = append(deptIDs, depts[i].DeptID)
		}
		tagIDs := make([]int64, 0, len(tags))
		for i := range tags {
			tags[i].AuthenticatorID, tags[i].RefreshedAt = authenticatorID, now
			tagIDs = append(tagIDs, tags[i].TagID)
		}
		gone := tx.q(ctx).Where("authenticator_id = ?", authenticatorID)
		if len(deptIDs) > 0 {
			gone = gone.Where("dept_id NOT IN ?", deptIDs)
		}
		if err := gone.Delete(&DirectoryDepartment{}).Error; err != nil {
			return notFound(err, "drop departments no longer visible")
		}
		gone = tx.q(ctx).Where("authenticator_id = ?", authenticatorID)
		if len(tagIDs) > 0 {
			gone = gone.Where("tag_id NOT IN ?", tagIDs)
		}
		if err := gone.Delete(&DirectoryTag{}).Error; err != nil {
			return notFound(err, "drop tags no longer listed")
		}
		if len(depts) > 0 {
			err := tx.q(ctx).Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "authenticator_id"}, {Name: "dept_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"parent_id", "name", "refreshed_at"}),
			}).CreateInBatches(depts, 200).Error
			if err != nil {
				return notFound(err, "save departments")
			}
		}
		if len(tags) > 0 {
			err := tx.q(ctx).Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "authenticator_id"}, {Name: "tag_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"name", "refreshed_at"}),
			}).CreateInBatches(tags, 200).Error
			if err != nil {
				return notFound(err, "save tags")
			}
		}
		return nil
	})
}
