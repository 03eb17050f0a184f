package models

import (
	"context"
	"time"
)

// DashboardStats is what the admin dashboard counts.
type DashboardStats struct {
	Users, Authenticators, EnabledAuthenticators, SigninsToday, ActiveSessions int64
	// Recent are the latest sign-in events, newest first.
	Recent []AuditRow
}

// DashboardStats counts users, authenticators, today's sign-ins (UTC) and live sessions at now, and
// lists the ten latest sign-in events.
func (s *Store) DashboardStats(ctx context.Context, now time.Time) (DashboardStats, error) {
	var d DashboardStats
	var err error
	if d.Users, err = s.CountUsers(ctx); err != nil {
		return d, err
	}
	if d.Authenticators, d.EnabledAuthenticators, err = s.CountAuthenticators(ctx); err != nil {
		return d, err
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if d.SigninsToday, err = s.CountEvents(ctx, ActionSigninOK, today); err != nil {
		return d, err
	}
	if d.ActiveSessions, err = s.CountActiveSessions(ctx, now); err != nil {
		return d, err
	}
	recent, err := s.ListAudit(ctx, AuditFilter{Action: "signin."}, 0, 10)
	d.Recent = recent.Events
	return d, err
}

// CountPasswordAdmins counts the enabled administrators who have a password, the ones who can still
// sign in when WeCom cannot be reached.
func (s *Store) CountPasswordAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Where("is_admin AND NOT disabled AND password_hash IS NOT NULL AND password_hash <> ''").Count(&n).Error
	return n, notFound(err, "count administrators with a password")
}
