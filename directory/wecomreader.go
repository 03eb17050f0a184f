package directory

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/models"
	"gatehouse/wecom"
)

// StatusReader reads a member's status with user/get alone, through an authenticator's app.
type StatusReader struct {
	Client *wecom.Client
	// Config resolves an authenticator's app, secret unsealed (auth.WeCom.Config).
	Config func(models.Authenticator) (wecom.Config, error)
}

// MemberStatus implements MemberReader: WeCom's status, models.MemberUnavailable when user/get says the
// member is gone or out of the app's visible range (60111, 60011, 40003: wecom-directory.md §1), and an
// error for anything else, which cuts nobody off.
func (r StatusReader) MemberStatus(ctx context.Context, a models.Authenticator, userid string) (int, error) {
	cfg, err := r.Config(a)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAppUnavailable, err)
	}
	m, err := r.Client.User(ctx, cfg, userid)
	if errors.Is(err, wecom.ErrMemberUnavailable) {
		return models.MemberUnavailable, nil
	}
	if err != nil {
		return 0, sweepError(err)
	}
	return m.Status, nil
}

// sweepError tells the sweep whether a WeCom failure should pause the whole app.
func sweepError(err error) error {
	switch code := wecom.CodeOf(err); {
	case errors.Is(err, wecom.ErrRateLimited):
		return fmt.Errorf("%w: %w", ErrThrottled, err)
	case code == wecom.CodeBreakerOpen || wecom.IsConfigError(code):
		return fmt.Errorf("%w: %w", ErrAppUnavailable, err)
	default:
		return err
	}
}

// RefreshReader reads a member for the sweep through the Refresher, so that a round also refreshes
// every member's departments and tags, with one user/get each. The Refresher cuts off or lets back
// the member itself; the sweep's own call after it then changes nothing.
type RefreshReader struct {
	Refresher *Refresher
}

// MemberStatus implements MemberReader.
func (r RefreshReader) MemberStatus(ctx context.Context, a models.Authenticator, userid string) (int, error) {
	if _, err := r.Refresher.Config(a); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAppUnavailable, err)
	}
	got, err := r.Refresher.Refresh(ctx, a, userid)
	if err != nil {
		return 0, sweepError(err)
	}
	return got.Member.Status, nil
}
