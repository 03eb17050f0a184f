package directory

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/models"
	"gatehouse/wecom"
)

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
