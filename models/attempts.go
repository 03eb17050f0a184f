package models

import (
	"context"
	"fmt"
	"time"
)

// SigninAttempt is one password sign-in in progress or failed. A row is written (and committed) before
// the password is checked, so parallel guesses see each other; a throttled or successful attempt
// deletes its row, so only failures keep counting.
type SigninAttempt struct {
	ID       int64     `gorm:"primaryKey"`
	At       time.Time `gorm:"not null;index;index:idx_signin_attempts_account,priority:3;index:idx_signin_attempts_ip,priority:2"`
	Username string    `gorm:"size:64;not null;index:idx_signin_attempts_account,priority:1"`
	// Bucket is whose allowance the attempt uses: "" the account's shared one, "d:<id>" a browser
	// that signed in to the account before, "ip:<address>" an address that did.
	Bucket string `gorm:"size:80;not null;default:'';index:idx_signin_attempts_account,priority:2"`
	IP     string `gorm:"size:64;not null;default:'';index:idx_signin_attempts_ip,priority:1"`
}

// AttemptCounts are the attempts in a throttle window that share an attempt's allowances, its own
// included: those of its account bucket, and those from its address.
type AttemptCounts struct{ Account, IP int64 }

// BeginAttempt records a sign-in attempt and commits it before returning, so that every attempt that
// counts afterwards sees it. username and ip are cut to their columns.
func (s *Store) BeginAttempt(ctx context.Context, username, ip, bucket string, at time.Time) (SigninAttempt, error) {
	a := SigninAttempt{At: at, Username: TruncateText(username, 64), IP: TruncateText(ip, 64), Bucket: TruncateText(bucket, 80)}
	err := s.q(ctx).Create(&a).Error
	return a, notFound(err, "record sign-in attempt")
}

// CountAttempts counts the attempts since a time in a's account bucket and from a's address. Rows of
// attempts that began after a are counted too: counting everything committed is what makes the limit
// hold under parallel attempts (the last of any k attempts to count sees all k).
func (s *Store) CountAttempts(ctx context.Context, a SigninAttempt, since time.Time) (AttemptCounts, error) {
	var c AttemptCounts
	err := s.q(ctx).Model(&SigninAttempt{}).
		Select("COUNT(CASE WHEN username = ? AND bucket = ? THEN 1 END) AS account, COUNT(CASE WHEN ip = ? THEN 1 END) AS ip", a.Username, a.Bucket, a.IP).
		Where("at >= ? AND ((username = ? AND bucket = ?) OR ip = ?)", since, a.Username, a.Bucket, a.IP).
		Scan(&c).Error
	return c, notFound(err, "count sign-in attempts")
}

// OldestAttempt is when the oldest attempt since a time in a's account bucket (byIP false) or from
// a's address (byIP true) began, from which a throttle computes when the window frees up.
func (s *Store) OldestAttempt(ctx context.Context, a SigninAttempt, byIP bool, since time.Time) (time.Time, error) {
	q := s.q(ctx).Where("at >= ?", since)
	if byIP {
		q = q.Where("ip = ?", a.IP)
	} else {
		q = q.Where("username = ? AND bucket = ?", a.Username, a.Bucket)
	}
	var rows []SigninAttempt
	// The row rather than MIN(at), which SQLite returns as text.
	if err := q.Order("at").Limit(1).Find(&rows).Error; err != nil || len(rows) == 0 {
		return a.At, notFound(err, "oldest sign-in attempt")
	}
	return rows[0].At, nil
}

// EndAttempt deletes an attempt that must not count as a failure (it was throttled, or it succeeded).
func (s *Store) EndAttempt(ctx context.Context, id int64) error {
	return notFound(s.q(ctx).Delete(&SigninAttempt{}, id).Error, fmt.Sprintf("end sign-in attempt %d", id))
}

// DeleteAttemptsBefore forgets attempts older than every throttle window.
func (s *Store) DeleteAttemptsBefore(ctx context.Context, before time.Time) error {
	return notFound(s.q(ctx).Where("at < ?", before).Delete(&SigninAttempt{}).Error, "delete old sign-in attempts")
}

// SignedInFrom tells whether username signed in successfully from ip since a time (audit signin.ok).
func (s *Store) SignedInFrom(ctx context.Context, username, ip string, since time.Time) (bool, error) {
	var ids []int64
	err := s.q(ctx).Model(&AuditEvent{}).Where("action = ? AND target = ? AND ip = ? AND at >= ?",
		ActionSigninOK, TruncateText(username, 256), TruncateText(ip, 64), since).Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, notFound(err, "earlier sign-in from this address")
}
