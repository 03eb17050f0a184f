package models

import (
	"context"
	"fmt"
	"time"
)

// UserRef is the little of a user a bulk lookup needs.
type UserRef struct {
	ID       int64
	Username string
	Mobile   *string
}

// lookupChunk bounds the values of one IN list: far below SQLite's and PostgreSQL's parameter limits,
// and few enough queries that 50,000 keys cost a few dozen round trips.
const lookupChunk = 1000

// insertChunk is the rows of one multi-row INSERT (6 columns each stays under every parameter limit).
const insertChunk = 1000

func chunks[T any](xs []T, n int, fn func([]T) error) error {
	for len(xs) > 0 {
		k := min(n, len(xs))
		if err := fn(xs[:k]); err != nil {
			return err
		}
		xs = xs[k:]
	}
	return nil
}

// UsersByUsernames finds users by normalised usernames, keyed by username.
func (s *Store) UsersByUsernames(ctx context.Context, names []string) (map[string]UserRef, error) {
	out := make(map[string]UserRef, len(names))
	err := chunks(names, lookupChunk, func(part []string) error {
		var refs []UserRef
		if err := s.q(ctx).Model(&User{}).Select("id, username, mobile").Where("username IN ?", part).Scan(&refs).Error; err != nil {
			return err
		}
		for _, r := range refs {
			out[r.Username] = r
		}
		return nil
	})
	return out, notFound(err, fmt.Sprintf("users by %d usernames", len(names)))
}

// UsersByMobiles finds users by normalised mobiles, keyed by mobile (mobiles are unique).
func (s *Store) UsersByMobiles(ctx context.Context, mobiles []string) (map[string]UserRef, error) {
	out := make(map[string]UserRef, len(mobiles))
	err := chunks(mobiles, lookupChunk, func(part []string) error {
		var refs []UserRef
		if err := s.q(ctx).Model(&User{}).Select("id, username, mobile").Where("mobile IN ?", part).Scan(&refs).Error; err != nil {
			return err
		}
		for _, r := range refs {
			if r.Mobile != nil {
				out[*r.Mobile] = r
			}
		}
		return nil
	})
	return out, notFound(err, fmt.Sprintf("users by %d mobiles", len(mobiles)))
}

// UsernamesByIDs maps user ids to usernames.
func (s *Store) UsernamesByIDs(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	err := chunks(ids, lookupChunk, func(part []int64) error {
		var refs []UserRef
		if err := s.q(ctx).Model(&User{}).Select("id, username").Where("id IN ?", part).Scan(&refs).Error; err != nil {
			return err
		}
		for _, r := range refs {
			out[r.ID] = r.Username
		}
		return nil
	})
	return out, notFound(err, fmt.Sprintf("usernames of %d users", len(ids)))
}

type subjectRow struct {
	UserID  int64
	Subject string
}

// BoundSubjectsOfUsers maps each of these users bound at the authenticator to its subject.
func (s *Store) BoundSubjectsOfUsers(ctx context.Context, authenticatorID int64, userIDs []int64) (map[int64]string, error) {
	out := make(map[int64]string)
	err := chunks(userIDs, lookupChunk, func(part []int64) error {
		var rows []subjectRow
		if err := s.q(ctx).Model(&Binding{}).Select("user_id, subject").Where("authenticator_id = ? AND user_id IN ?", authenticatorID, part).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.UserID] = r.Subject
		}
		return nil
	})
	return out, notFound(err, fmt.Sprintf("bindings of %d users at authenticator %d", len(userIDs), authenticatorID))
}

// BoundUsersOfSubjects maps each of these subjects bound at the authenticator to its user.
func (s *Store) BoundUsersOfSubjects(ctx context.Context, authenticatorID int64, subjects []string) (map[string]int64, error) {
	out := make(map[string]int64)
	err := chunks(subjects, lookupChunk, func(part []string) error {
		var rows []subjectRow
		if err := s.q(ctx).Model(&Binding{}).Select("user_id, subject").Where("authenticator_id = ? AND subject IN ?", authenticatorID, part).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.Subject] = r.UserID
		}
		return nil
	})
	return out, notFound(err, fmt.Sprintf("bindings of %d subjects at authenticator %d", len(subjects), authenticatorID))
}

// CreateBindings inserts bindings with multi-row INSERTs; any row already taken is ErrConflict and,
// inside InTx, rolls every row back.
func (s *Store) CreateBindings(ctx context.Context, bs []Binding) error {
	if len(bs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	for i := range bs {
		if bs[i].CreatedAt.IsZero() {
			bs[i].CreatedAt = now
		}
	}
	return notFound(s.q(ctx).CreateInBatches(bs, insertChunk).Error, fmt.Sprintf("create %d bindings", len(bs)))
}

// BulkImport keeps an uploaded bulk-binding file between its preview and its application, on the
// server: the apply form carries only the row's random id and the previewed plan's fingerprint, so a
// client cannot swap the file, and the admin need not upload it twice.
type BulkImport struct {
	ID              string `gorm:"primaryKey;size:64"` // random, hex
	ActorUserID     int64  `gorm:"not null"`
	AuthenticatorID int64  `gorm:"not null"`
	Filename        string `gorm:"size:256;not null;default:''"`
	SHA256          string `gorm:"size:64;not null"`
	Content         []byte `gorm:"not null"`
	// Result is the applied plan as CSV (empty until applied).
	Result []byte
	// Summary is the applied plan's counts by result, as JSON.
	Summary   string `gorm:"size:256;not null;default:''"`
	AppliedAt *time.Time
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
}

// BulkImportTTL is how long an uploaded file waits for its application and its result for download.
const BulkImportTTL = 24 * time.Hour

// CreateBulkImport stores an uploaded file and deletes the expired ones.
func (s *Store) CreateBulkImport(ctx context.Context, b *BulkImport) error {
	if err := s.q(ctx).Where("expires_at < ?", time.Now().UTC()).Delete(&BulkImport{}).Error; err != nil {
		return notFound(err, "delete expired bulk imports")
	}
	return notFound(s.q(ctx).Create(b).Error, "create bulk import")
}

// BulkImportByID loads an unexpired upload of this admin; another admin's or an expired one is not found.
func (s *Store) BulkImportByID(ctx context.Context, id string, actorUserID int64) (BulkImport, error) {
	var b BulkImport
	err := s.q(ctx).Where("id = ? AND actor_user_id = ? AND expires_at > ?", id, actorUserID, time.Now().UTC()).First(&b).Error
	return b, notFound(err, "bulk import")
}

// MarkBulkImportApplied records the result; it fails with ErrConflict when the import was applied already.
func (s *Store) MarkBulkImportApplied(ctx context.Context, id string, result []byte, summary string, at time.Time) error {
	res := s.q(ctx).Model(&BulkImport{}).Where("id = ? AND applied_at IS NULL", id).Updates(map[string]any{"result": result, "summary": summary, "applied_at": at})
	if res.Error != nil {
		return notFound(res.Error, "mark bulk import applied")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("bulk import %s applied already: %w", id, ErrConflict)
	}
	return nil
}

// ActionBindingImport is the one audit event of an applied bulk-binding file, with its counts.
const ActionBindingImport = "binding.import"
