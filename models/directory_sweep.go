package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DirectorySweepRound is one round of the directory sweep (DESIGN.md §11): every bound member of
// every enabled WeCom authenticator read once. The counts grow as the round goes, so an unfinished
// round is also its progress.
type DirectorySweepRound struct {
	ID         int64     `gorm:"primaryKey"`
	StartedAt  time.Time `gorm:"not null;index"`
	FinishedAt *time.Time
	// MembersChecked counts the members WeCom answered for (any answer but an error); MembersLeft those
	// the round cut off, MembersBack those it let back, MembersFailed the calls that failed (nobody
	// is cut off on a failure).
	MembersChecked int64 `gorm:"not null;default:0"`
	MembersLeft    int64 `gorm:"not null;default:0"`
	MembersBack    int64 `gorm:"not null;default:0"`
	MembersFailed  int64 `gorm:"not null;default:0"`
}

// DirectorySweepCursor is how far the current round got through one authenticator's bindings, so a
// restarted sweep continues after the last binding done instead of calling WeCom for it again.
type DirectorySweepCursor struct {
	AuthenticatorID int64 `gorm:"primaryKey;autoIncrement:false"`
	// RoundID is the round the cursor belongs to; a cursor of an older round counts as not started.
	RoundID       int64 `gorm:"not null;default:0"`
	LastBindingID int64 `gorm:"not null;default:0"`
	Done          bool  `gorm:"not null;default:false"`
	// PausedUntil is set when WeCom throttled the app (45009, 45033) or could not be used: the round
	// skips the authenticator until then. Backoffs counts the pauses in a row, to lengthen the next.
	PausedUntil *time.Time
	Backoffs    int `gorm:"not null;default:0"`
}

// DirectorySweepLease is the row that lets one instance of a fleet sweep at a time: whoever holds an
// unexpired lease sweeps, renewing it as it goes.
type DirectorySweepLease struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Holder    string    `gorm:"size:64;not null;default:''"`
	ExpiresAt time.Time `gorm:"not null"`
}

// AcquireLease takes (or renews) the named lease for holder until expires, when it is free, expired at
// now, or already holder's. It is one conditional UPDATE, so of instances racing for it exactly one
// wins, on SQLite and PostgreSQL alike.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error) {
	err := s.q(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&DirectorySweepLease{Name: name, ExpiresAt: time.Unix(0, 0).UTC()}).Error
	if err != nil {
		return false, notFound(err, "create lease "+name)
	}
	res := s.q(ctx).Model(&DirectorySweepLease{}).
		Where("name = ? AND (holder = ? OR expires_at < ?)", name, holder, now).
		Updates(map[string]any{"holder": holder, "expires_at": expires})
	if res.Error != nil {
		return false, notFound(res.Error, "take lease "+name)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives the lease up if holder still has it, so another instance may take it at once.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := s.q(ctx).Model(&DirectorySweepLease{}).Where("name = ? AND holder = ?", name, holder).
		Updates(map[string]any{"holder": "", "expires_at": time.Unix(0, 0).UTC()}).Error
	return notFound(err, "release lease "+name)
}

// LatestSweepRound is the newest round, finished or not; ErrNotFound before the first.
func (s *Store) LatestSweepRound(ctx context.Context) (DirectorySweepRound, error) {
	var r DirectorySweepRound
	err := s.q(ctx).Order("id DESC").Take(&r).Error
	return r, notFound(err, "latest directory sweep round")
}

// LastFinishedSweepRound is the newest finished round; ErrNotFound before the first.
func (s *Store) LastFinishedSweepRound(ctx context.Context) (DirectorySweepRound, error) {
	var r DirectorySweepRound
	err := s.q(ctx).Where("finished_at IS NOT NULL").Order("id DESC").Take(&r).Error
	return r, notFound(err, "last finished directory sweep round")
}

// keptSweepRounds is how many rounds stay in the table: the dashboard reads the last two.
const keptSweepRounds = 10

// StartSweepRound records a new round begun at now and forgets all but the latest rounds.
func (s *Store) StartSweepRound(ctx context.Context, now time.Time) (DirectorySweepRound, error) {
	r := DirectorySweepRound{StartedAt: now}
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(&r).Error; err != nil {
			return notFound(err, "start directory sweep round")
		}
		err := tx.q(ctx).Where("id <= ?", r.ID-keptSweepRounds).Delete(&DirectorySweepRound{}).Error
		return notFound(err, "forget old directory sweep rounds")
	})
	return r, err
}

// FinishSweepRound marks a round finished at now.
func (s *Store) FinishSweepRound(ctx context.Context, roundID int64, now time.Time) error {
	err := s.q(ctx).Model(&DirectorySweepRound{}).Where("id = ?", roundID).Update("finished_at", now).Error
	return notFound(err, fmt.Sprintf("finish directory sweep round %d", roundID))
}

// SweepCursor is an authenticator's cursor in a round: a fresh one when the stored one is of an older
// round or missing.
func (s *Store) SweepCursor(ctx context.Context, authenticatorID, roundID int64) (DirectorySweepCursor, error) {
	var c DirectorySweepCursor
	err := s.q(ctx).Where("authenticator_id = ?", authenticatorID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && c.RoundID != roundID) {
		// A pause outlives the round it began in: WeCom's block does not care about rounds.
		fresh := DirectorySweepCursor{AuthenticatorID: authenticatorID, RoundID: roundID}
		if err == nil && c.PausedUntil != nil {
			fresh.PausedUntil, fresh.Backoffs = c.PausedUntil, c.Backoffs
		}
		return fresh, nil
	}
	return c, notFound(err, fmt.Sprintf("directory sweep cursor of authenticator %d", authenticatorID))
}

// SaveSweepCursor stores an authenticator's cursor.
func (s *Store) SaveSweepCursor(ctx context.Context, c DirectorySweepCursor) error {
	return notFound(s.q(ctx).Save(&c).Error, fmt.Sprintf("save directory sweep cursor of authenticator %d", c.AuthenticatorID))
}

// SweepCounts are what one member added to a round's counts.
type SweepCounts struct {
	Checked, Left, Back, Failed int64
}

// RecordSweptMember moves the authenticator's cursor past bindingID and adds to the round's counts, in
// one transaction: a restart never calls WeCom again for a member the counts include.
func (s *Store) RecordSweptMember(ctx context.Context, c DirectorySweepCursor, add SweepCounts) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.SaveSweepCursor(ctx, c); err != nil {
			return err
		}
		err := tx.q(ctx).Model(&DirectorySweepRound{}).Where("id = ?", c.RoundID).Updates(map[string]any{
			"members_checked": gorm.Expr("members_checked + ?", add.Checked),
			"members_left":    gorm.Expr("members_left + ?", add.Left),
			"members_back":    gorm.Expr("members_back + ?", add.Back),
			"members_failed":  gorm.Expr("members_failed + ?", add.Failed),
		}).Error
		return notFound(err, fmt.Sprintf("count directory sweep round %d", c.RoundID))
	})
}

// SweepMember is a bound member the sweep reads: the binding, its WeCom userid and whether it is
// suspended now.
type SweepMember struct {
	BindingID int64
	Subject   string
	Suspended bool
}

// SweepMembers lists up to limit bindings of an authenticator made in its current corp, after
// afterID in id order, each with whether its member is suspended: one query per page.
func (s *Store) SweepMembers(ctx context.Context, a Authenticator, afterID int64, limit int) ([]SweepMember, error) {
	var list []SweepMember
	err := s.q(ctx).Table("user_authenticators AS b").
		Select("b.id AS binding_id, b.subject, m.suspended_at IS NOT NULL AS suspended").
		Joins("LEFT JOIN directory_members AS m ON m.binding_id = b.id").
		Where("b.authenticator_id = ? AND b.corp_id = ? AND b.id > ?", a.ID, a.Options.CorpID, afterID).
		Order("b.id").Limit(limit).Scan(&list).Error
	return list, notFound(err, fmt.Sprintf("bound members of authenticator %d", a.ID))
}

// PausedSweep is an authenticator whose sweep waits for WeCom until Until.
type PausedSweep struct {
	AuthenticatorName string
	Until             time.Time
}

// PausedSweeps lists the authenticators whose sweep WeCom asked to wait, and until when, at now.
func (s *Store) PausedSweeps(ctx context.Context, now time.Time) ([]PausedSweep, error) {
	var list []PausedSweep
	err := s.q(ctx).Table("directory_sweep_cursors AS c").
		Select("a.name AS authenticator_name, c.paused_until AS until").
		Joins("JOIN authenticators AS a ON a.id = c.authenticator_id").
		Where("c.paused_until > ?", now).Order("a.name").Scan(&list).Error
	return list, notFound(err, "paused directory sweeps")
}
