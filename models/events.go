package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Purposes of the sealed event settings of a WeCom authenticator (DESIGN.md §11).
const (
	PurposeEventToken  = "authenticator.event_token"
	PurposeEventAESKey = "authenticator.event_aes_key"
)

// EventToken binds an app's 接收消息 Token to its authenticator (by name, as AuthenticatorSecret).
func EventToken(name string) SealedFor { return SealedFor{Purpose: PurposeEventToken, Row: name} }

// EventAESKey binds an app's EncodingAESKey to its authenticator (by name, as AuthenticatorSecret).
func EventAESKey(name string) SealedFor { return SealedFor{Purpose: PurposeEventAESKey, Row: name} }

// HasEventSettings tells whether the authenticator can receive WeCom's events.
func (a Authenticator) HasEventSettings() bool {
	return a.EventTokenSealed != "" && a.EventAESKeySealed != ""
}

// ActionEventRefused is the audit action of a refused call to the WeCom events endpoint. Anyone can
// call it, so it falls under AnonymousAuditPerMinute like the sign-in refusals.
const ActionEventRefused = "directory.event_refused"

// DirectoryEvent is a WeCom event already applied: the same one again (WeCom retries, or a replay)
// changes nothing. Rows are swept once their CreateTime is outside the freshness window.
type DirectoryEvent struct {
	AuthenticatorID int64     `gorm:"primaryKey;autoIncrement:false"`
	Member          string    `gorm:"primaryKey;size:128"`
	Event           string    `gorm:"primaryKey;size:64"`
	CreateTime      int64     `gorm:"primaryKey;autoIncrement:false"`
	SeenAt          time.Time `gorm:"not null;index"`
}

// ClaimEvent records an event as seen and says whether it is new; a second claim of the same event
// (another instance, a retry) gets false.
func (s *Store) ClaimEvent(ctx context.Context, e DirectoryEvent) (bool, error) {
	res := s.q(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	if res.Error != nil {
		return false, notFound(res.Error, fmt.Sprintf("claim event %s of %q", e.Event, e.Member))
	}
	return res.RowsAffected > 0, nil
}

// ReleaseEvent forgets a claim whose work failed, so that WeCom's retry is applied.
func (s *Store) ReleaseEvent(ctx context.Context, e DirectoryEvent) error {
	err := s.q(ctx).Where("authenticator_id = ? AND member = ? AND event = ? AND create_time = ?",
		e.AuthenticatorID, e.Member, e.Event, e.CreateTime).Delete(&DirectoryEvent{}).Error
	return notFound(err, fmt.Sprintf("release event %s of %q", e.Event, e.Member))
}

// SweepEvents forgets the events seen before cutoff and says how many.
func (s *Store) SweepEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.q(ctx).Where("seen_at < ?", cutoff).Delete(&DirectoryEvent{})
	return res.RowsAffected, notFound(res.Error, "sweep seen events")
}

// resealEventSettings re-seals the event settings sealed in an old format or with an old key. A value
// no key opens is left as it is: the events endpoint refuses until an admin types it again.
func (s *Store) resealEventSettings(ctx context.Context, sealer *Sealer) (int, error) {
	var auths []Authenticator
	if err := s.q(ctx).Where("event_token_sealed <> '' OR event_aes_key_sealed <> ''").Order("id").Find(&auths).Error; err != nil {
		return 0, fmt.Errorf("list sealed event settings: %w", err)
	}
	n := 0
	for _, a := range auths {
		for _, v := range []struct {
			col    string
			sealed string
			f      SealedFor
		}{{"event_token_sealed", a.EventTokenSealed, EventToken(a.Name)}, {"event_aes_key_sealed", a.EventAESKeySealed, EventAESKey(a.Name)}} {
			if v.sealed == "" || !sealer.NeedsReseal(v.sealed) {
				continue
			}
			resealed, err := sealer.Reseal(v.sealed, v.f, v.f)
			if err != nil {
				continue
			}
			err = s.q(ctx).Model(&Authenticator{}).Where("id = ? AND "+v.col+" = ?", a.ID, v.sealed).UpdateColumn(v.col, resealed).Error
			if err != nil {
				return n, fmt.Errorf("store re-sealed %s of authenticator %q: %w", v.col, a.Name, err)
			}
			n++
		}
	}
	if n > 0 {
		s.changedAuthenticators()
	}
	return n, nil
}
