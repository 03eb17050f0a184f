package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Audit actions.
const (
	ActionSigninOK      = "signin.ok"
	ActionSigninFailed  = "signin.failed" // a wrong password; counted for throttling
	ActionSigninRefused = "signin.refused"
	ActionSignout       = "signout"
	ActionSessionRevoke = "session.revoke"
	ActionUserCreate    = "user.create"
	ActionUserUpdate    = "user.update"
	ActionAuthCreate    = "authenticator.create"
	ActionAuthUpdate    = "authenticator.update"
	ActionAuthDelete    = "authenticator.delete"
	ActionAuthTest      = "authenticator.test"
	ActionBindingCreate = "binding.create"
	ActionBindingDelete = "binding.delete"
	ActionSystemBoot    = "system.first_admin"
)

// Event is what a caller records; Detail must never hold a secret.
type Event struct {
	ActorUserID int64 // 0: nobody signed in
	Action      string
	Target      string
	IP          string
	Detail      map[string]any
}

// Audit records one event.
func (s *Store) Audit(ctx context.Context, e Event) error {
	row := AuditEvent{At: time.Now().UTC(), Action: e.Action, Target: auditTarget(e.Target), IP: e.IP, Detail: "{}"}
	if e.ActorUserID != 0 {
		id := e.ActorUserID
		row.ActorUserID = &id
	}
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("audit %s detail: %w", e.Action, err)
		}
		row.Detail = string(b)
	}
	return notFound(s.q(ctx).Create(&row).Error, "audit "+e.Action)
}

// maxAuditTarget is the target column's size, in characters.
const maxAuditTarget = 256

// auditTarget cuts a target to the column's size: a 10,000-character username typed at the sign-in
// form is audited (and throttled) under its first 256 characters, instead of failing the insert on
// PostgreSQL (a 500) where SQLite would have kept it whole.
func auditTarget(target string) string {
	n := 0
	for i := range target {
		if n == maxAuditTarget {
			return target[:i]
		}
		n++
	}
	return target
}

// AuditFilter narrows an audit listing; empty fields match everything.
type AuditFilter struct {
	Action string // exact, or a prefix ending in "." such as "signin."
	Actor  string // username of the actor
	Target string // substring
}

// AuditRow is an audit event with its actor's username.
type AuditRow struct {
	AuditEvent
	ActorUsername string
}

// AuditPage is one page of an audit listing.
type AuditPage struct {
	Events []AuditRow
	Total  int64
}

// ListAudit returns matching events, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, offset, limit int) (AuditPage, error) {
	var p AuditPage
	q := s.q(ctx).Table("audit_events AS e").Joins("LEFT JOIN users AS u ON u.id = e.actor_user_id")
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			q = q.Where("e.action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+"%")
		} else {
			q = q.Where("e.action = ?", f.Action)
		}
	}
	if f.Actor != "" {
		q = q.Where("u.username = ?", NormalizeUsername(f.Actor))
	}
	if f.Target != "" {
		q = q.Where("LOWER(e.target) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Target))+"%")
	}
	if err := q.Count(&p.Total).Error; err != nil {
		return p, fmt.Errorf("count audit events: %w", err)
	}
	err := q.Select("e.*, COALESCE(u.username, '') AS actor_username").Order("e.at DESC, e.id DESC").Offset(offset).Limit(limit).Scan(&p.Events).Error
	return p, notFound(err, "list audit events")
}

// CountEvents counts events of one action since a time.
func (s *Store) CountEvents(ctx context.Context, action string, since time.Time) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&AuditEvent{}).Where("action = ? AND at >= ?", action, since).Count(&n).Error
	return n, notFound(err, "count "+action)
}

// Failures counts events of action since a time, by target (when target != "") or else by IP, and
// returns the oldest of them, from which a throttle computes when the window frees up.
func (s *Store) Failures(ctx context.Context, action, target, ip string, since time.Time) (int64, time.Time, error) {
	scope := func() *gorm.DB {
		q := s.q(ctx).Model(&AuditEvent{}).Where("action = ? AND at >= ?", action, since)
		if target != "" {
			return q.Where("target = ?", auditTarget(target))
		}
		return q.Where("ip = ?", ip)
	}
	var n int64
	if err := scope().Count(&n).Error; err != nil || n == 0 {
		return 0, time.Time{}, notFound(err, "count failures")
	}
	var oldest AuditEvent
	err := scope().Order("at").First(&oldest).Error
	return n, oldest.At, notFound(err, "oldest failure")
}
