package models

import (
	"context"
	"encoding/json"
	"errors"
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

	// The hand-off QR code (DESIGN.md §7).
	ActionHandoffStart    = "handoff.start"
	ActionHandoffDone     = "handoff.done"
	ActionHandoffMismatch = "handoff.mismatch"
	ActionHandoffRefused  = "handoff.refused"
	ActionHandoffCancel   = "handoff.cancel"
	ActionHandoffUsed     = "handoff.used"
)

// ActionSigninSuppressed is the one summary row written when an address exceeds AnonymousAuditPerMinute.
const ActionSigninSuppressed = "signin.suppressed"

// AnonymousAuditPerMinute caps the signin.failed and signin.refused rows that requests without a session
// write per client address and minute: a refusal costs an attacker nothing, and each row would otherwise
// be theirs to add, with a target they chose. Beyond the cap one signin.suppressed row says so and the
// rest are counted in /metrics only; the refusals themselves still happen.
const AnonymousAuditPerMinute = 10

// AuditResult says what Record did with an event.
type AuditResult int

// What Record did.
const (
	AuditWritten    AuditResult = iota
	AuditSummarised             // the cap was reached: a signin.suppressed row was written instead
	AuditSuppressed             // over the cap: nothing was written
)

// ErrAuditSuppressed marks a refusal whose audit row was left out by the anonymous cap, so the caller can
// count it in metrics.
var ErrAuditSuppressed = errors.New("audit row suppressed")

// AuditBudget counts the anonymous refusal rows of one address in one minute (see AnonymousAuditPerMinute).
type AuditBudget struct {
	IP     string `gorm:"primaryKey;size:64"`
	Minute int64  `gorm:"primaryKey;autoIncrement:false;index"` // Unix minutes
	N      int64  `gorm:"not null;default:0"`
}

// Event is what a caller records; Detail must never hold a secret.
type Event struct {
	ActorUserID int64 // 0: nobody signed in
	Action      string
	Target      string
	IP          string
	Detail      map[string]any
	// Authenticator and Outcome fill their indexed columns; when empty they are taken from the
	// Detail keys of the same names, so callers that already put them there need not change.
	Authenticator string
	Outcome       string
}

// Audit records one event (anonymous refusals within the cap; see Record).
func (s *Store) Audit(ctx context.Context, e Event) error {
	_, err := s.Record(ctx, e)
	return err
}

// Record records one event and says whether the anonymous cap left it out. Target and IP are cut to
// their columns as valid UTF-8, whatever the client sent.
func (s *Store) Record(ctx context.Context, e Event) (AuditResult, error) {
	now := time.Now().UTC()
	row := AuditEvent{At: now, Action: e.Action, Target: TruncateText(e.Target, 256), IP: TruncateText(e.IP, 64), Detail: "{}",
		Authenticator: TruncateText(firstOf(e.Authenticator, e.Detail, "authenticator"), 64),
		Outcome:       TruncateText(firstOf(e.Outcome, e.Detail, "outcome"), 64)}
	if e.ActorUserID != 0 {
		id := e.ActorUserID
		row.ActorUserID = &id
	}
	result := AuditWritten
	if capped(e) {
		n, err := s.spendAuditBudget(ctx, row.IP, now)
		if err != nil {
			return result, err
		}
		switch {
		case n == AnonymousAuditPerMinute+1:
			result = AuditSummarised
			row.Action, row.Target = ActionSigninSuppressed, ""
			e.Detail = map[string]any{"limit_per_minute": AnonymousAuditPerMinute, "first_suppressed": e.Action}
		case n > AnonymousAuditPerMinute+1:
			return AuditSuppressed, nil
		}
	}
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return result, fmt.Errorf("audit %s detail: %w", e.Action, err)
		}
		row.Detail = string(b)
	}
	return result, notFound(s.q(ctx).Create(&row).Error, "audit "+e.Action)
}

// firstOf is v, or else detail[key] when it is a string.
func firstOf(v string, detail map[string]any, key string) string {
	if v != "" {
		return v
	}
	s, _ := detail[key].(string)
	return s
}

// capped tells whether an event falls under AnonymousAuditPerMinute.
func capped(e Event) bool {
	return e.ActorUserID == 0 && e.IP != "" && (e.Action == ActionSigninFailed || e.Action == ActionSigninRefused || e.Action == ActionEventRefused)
}

// spendAuditBudget counts one anonymous refusal row for ip in the current minute, in one statement so
// that parallel refusals each get their own number, and returns it.
func (s *Store) spendAuditBudget(ctx context.Context, ip string, now time.Time) (int64, error) {
	minute := now.Unix() / 60
	var n int64
	err := s.q(ctx).Raw(`INSERT INTO audit_budgets (ip, minute, n) VALUES (?, ?, 1)
		ON CONFLICT (ip, minute) DO UPDATE SET n = audit_budgets.n + 1 RETURNING n`, ip, minute).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count anonymous audit rows of %s: %w", ip, err)
	}
	if n == 1 {
		// A new minute for this address: forget the minutes that can no longer matter.
		if err := s.q(ctx).Where("minute < ?", minute-10).Delete(&AuditBudget{}).Error; err != nil {
			return 0, fmt.Errorf("forget old audit budgets: %w", err)
		}
	}
	return n, nil
}

// AuditFilter narrows an audit listing; empty fields match everything.
type AuditFilter struct {
	Action        string    // exact, or a prefix ending in "." such as "signin."
	Actor         string    // username of the actor
	Target        string    // substring
	Authenticator string    // exact name
	Outcome       string    // exact
	IP            string    // exact
	From, To      time.Time // at >= From, at < To; zero: unbounded
}

// Clean trims the text fields and drops control characters.
func (f AuditFilter) Clean() AuditFilter {
	f.Action, f.Actor, f.Target = CleanText(f.Action), CleanText(f.Actor), CleanText(f.Target)
	f.Authenticator, f.Outcome, f.IP = CleanText(f.Authenticator), CleanText(f.Outcome), CleanText(f.IP)
	return f
}

// AuditRow is an audit event with its actor's username.
type AuditRow struct {
	AuditEvent
	ActorUsername string
}

// AuditPage is one page of an audit listing.
type AuditPage struct {
	Events []AuditRow
	// Before is the cursor of the next (older) page; 0 when this page is the last.
	Before int64
}

// auditQuery is the filtered listing, newest first, of events with id < before (0: from the newest).
func (s *Store) auditQuery(ctx context.Context, f AuditFilter, before int64) *gorm.DB {
	f = f.Clean()
	q := s.q(ctx).Table("audit_events AS e").Joins("LEFT JOIN users AS u ON u.id = e.actor_user_id")
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			q = q.Where("e.action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+"%")
		} else {
			q = q.Where("e.action = ?", f.Action)
		}
	}
	if f.Actor != "" {
		// A subquery, not u.username, so the planner can use the (actor_user_id, id) index.
		q = q.Where("e.actor_user_id = (SELECT id FROM users WHERE username = ?)", NormalizeUsername(f.Actor))
	}
	if f.Target != "" {
		q = q.Where("LOWER(e.target) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Target))+"%")
	}
	for col, v := range map[string]string{"e.authenticator": f.Authenticator, "e.outcome": f.Outcome, "e.ip": f.IP} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("e.at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		// Ids follow the order of writing, so the newest event written before To (plus a minute for
		// instances whose clocks differ a little) bounds the ids too: the page then starts reading the
		// id index there instead of walking every newer event (a day a month ago: 21 ms → under 2 ms at
		// 1,000,000 events). The at condition still decides.
		q = q.Where("e.at < ?", f.To.UTC()).Where("e.id <= COALESCE((SELECT id FROM audit_events WHERE at < ? ORDER BY at DESC LIMIT 1), 0)", f.To.UTC().Add(auditClockSkew))
	}
	if before > 0 {
		q = q.Where("e.id < ?", before)
	}
	return q.Select("e.*, COALESCE(u.username, '') AS actor_username").Order("e.id DESC")
}

// auditClockSkew is how far apart the clocks of instances writing events may be for the time filter
// to stay exact.
const auditClockSkew = time.Minute

// ListAudit returns up to limit matching events older than the cursor before (0: the newest), newest
// first (by id, which is the order of writing), and the cursor of the next page. Keyset paging: each
// page reads one index range whatever its depth.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, before int64, limit int) (AuditPage, error) {
	var p AuditPage
	err := s.auditQuery(ctx, f, before).Limit(limit + 1).Scan(&p.Events).Error
	if err != nil {
		return p, notFound(err, "list audit events")
	}
	if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		p.Before = p.Events[limit-1].ID
	}
	return p, nil
}

// EachAudit calls fn for every matching event, newest first, reading batch rows at a time so an
// export of any size holds one batch in memory.
func (s *Store) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditRow) error) error {
	const batch = 1000
	var before int64
	for {
		p, err := s.ListAudit(ctx, f, before, batch)
		if err != nil {
			return err
		}
		for _, e := range p.Events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if p.Before == 0 {
			return nil
		}
		before = p.Before
	}
}

// PruneAudit deletes events older than cutoff, batch rows per statement so no statement holds locks
// for long, and returns how many went.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		res := s.q(ctx).Exec(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT ?)`, cutoff.UTC(), batch)
		if res.Error != nil {
			return total, fmt.Errorf("prune audit events before %s: %w", cutoff.Format(time.RFC3339), res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// CountEvents counts events of one action since a time.
func (s *Store) CountEvents(ctx context.Context, action string, since time.Time) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&AuditEvent{}).Where("action = ? AND at >= ?", action, since).Count(&n).Error
	return n, notFound(err, "count "+action)
}
