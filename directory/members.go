package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gatehouse/models"
)

// Audit actions of the directory.
const (
	ActionMemberLeft = "directory.member_left"
	ActionMemberBack = "directory.member_back"
)

// Where news of a member came from, for the audit log.
const (
	SourceEvent  = "event"
	SourceSweep  = "sweep"
	SourceSignin = "signin"
)

// Members applies what WeCom says about a member's presence: cut off when gone, let back when active.
type Members struct {
	Store *models.Store
	Now   func() time.Time
	Log   *slog.Logger
}

// Left cuts off the member behind userid at an authenticator (DESIGN.md §11): binding suspended, every
// session ended, a user with no other way in disabled, audited once. A userid bound to nobody is not
// an error: there is nobody to cut off.
func (m *Members) Left(ctx context.Context, a models.Authenticator, userid string, status int, source string) (models.MemberChange, error) {
	ch, err := m.Store.CutOffMember(ctx, a.ID, userid, status, m.Now())
	if errors.Is(err, models.ErrNotFound) {
		return ch, nil
	}
	if err != nil {
		return ch, fmt.Errorf("cut off %q at %q: %w", userid, a.Name, err)
	}
	if ch.Changed || ch.SessionsEnded > 0 {
		m.audit(ctx, ActionMemberLeft, a, ch, map[string]any{"status": status, "source": source,
			"sessions_ended": ch.SessionsEnded, "user_disabled": ch.UserDisabled})
	}
	return ch, nil
}

// Back lets a member WeCom reports active again sign in through their binding, and re-enables a user
// the directory disabled.
func (m *Members) Back(ctx context.Context, a models.Authenticator, userid, source string) (models.MemberChange, error) {
	ch, err := m.Store.RestoreMember(ctx, a.ID, userid, m.Now())
	if errors.Is(err, models.ErrNotFound) {
		return ch, nil
	}
	if err != nil {
		return ch, fmt.Errorf("restore %q at %q: %w", userid, a.Name, err)
	}
	if ch.Changed {
		m.audit(ctx, ActionMemberBack, a, ch, map[string]any{"source": source, "user_enabled": ch.UserEnabled})
	}
	return ch, nil
}

func (m *Members) audit(ctx context.Context, action string, a models.Authenticator, ch models.MemberChange, detail map[string]any) {
	detail["userid"] = ch.Binding.Subject
	detail["authenticator"] = a.Name
	err := m.Store.Audit(ctx, models.Event{Action: action, Target: ch.User.Username, Detail: detail})
	if err != nil {
		m.Log.Error("audit directory change", "action", action, "user", ch.User.Username, "err", err)
	}
}
