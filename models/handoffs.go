package models

import (
	"context"
	"fmt"
	"time"
)

// Hand-off states (DESIGN.md §7). A hand-off starts pending; the phone moves it to done (bound) or
// mismatch/refused, the desktop to used (signed in) or cancelled. Only pending and done lead anywhere.
const (
	HandoffPending   = "pending"
	HandoffDone      = "done"
	HandoffUsed      = "used"
	HandoffMismatch  = "mismatch"
	HandoffRefused   = "refused"
	HandoffCancelled = "cancelled"
)

// Handoff is a first WeCom sign-in started by a QR code in a desktop browser and finished in the WeCom
// client on a phone. Only hashes of the token (in the QR code) and of the desktop browser's secret
// (in its cookie) are stored, so a copy of the table signs nobody in.
type Handoff struct {
	ID              int64  `gorm:"primaryKey"`
	TokenHash       string `gorm:"size:64;not null;uniqueIndex"`
	BrowserHash     string `gorm:"size:64;not null"`
	AuthenticatorID int64  `gorm:"not null;index"`
	// Subject is the WeCom userid the desktop's QR sign-in saw: only that member can finish it.
	Subject   string    `gorm:"size:128;not null"`
	Redirect  string    `gorm:"size:2048;not null;default:''"`
	Status    string    `gorm:"size:16;not null"`
	UserID    int64     `gorm:"not null;default:0"` // the user the phone resolved, once done
	BindingID int64     `gorm:"not null;default:0"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	EndedAt   *time.Time
}

// CreateHandoff inserts a new hand-off.
func (s *Store) CreateHandoff(ctx context.Context, h *Handoff) error {
	return notFound(s.q(ctx).Create(h).Error, "create hand-off")
}

// HandoffByTokenHash loads the hand-off whose token hashes to tokenHash.
func (s *Store) HandoffByTokenHash(ctx context.Context, tokenHash string) (Handoff, error) {
	var h Handoff
	err := s.q(ctx).Where("token_hash = ?", tokenHash).First(&h).Error
	return h, notFound(err, "hand-off by token")
}

// HandoffByID loads one hand-off.
func (s *Store) HandoffByID(ctx context.Context, id int64) (Handoff, error) {
	var h Handoff
	err := s.q(ctx).Where("id = ?", id).First(&h).Error
	return h, notFound(err, fmt.Sprintf("hand-off %d", id))
}

// MoveHandoff changes a hand-off from status from to status to, with the extra columns set, only if
// it is still in from and, when liveAt is not zero, unexpired at liveAt. It reports whether this call
// made the move, so two requests racing for the same hand-off cannot both win.
func (s *Store) MoveHandoff(ctx context.Context, id int64, from, to string, liveAt time.Time, set map[string]any) (bool, error) {
	cols := map[string]any{"status": to}
	for k, v := range set {
		cols[k] = v
	}
	q := s.q(ctx).Model(&Handoff{}).Where("id = ? AND status = ?", id, from)
	if !liveAt.IsZero() {
		q = q.Where("expires_at > ?", liveAt)
	}
	res := q.UpdateColumns(cols)
	if res.Error != nil {
		return false, fmt.Errorf("move hand-off %d from %s to %s: %w", id, from, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteOldHandoffs removes hand-offs that expired before cutoff.
func (s *Store) DeleteOldHandoffs(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.q(ctx).Where("expires_at < ?", cutoff).Delete(&Handoff{})
	return res.RowsAffected, notFound(res.Error, "delete old hand-offs")
}
