package directory

import (
	"context"
	"fmt"

	"gatehouse/models"
	"gatehouse/wecom"
)

// WeComReader reads a member's status with user/get, through an authenticator's app. It is the one
// place the sweep talks to WeCom.
type WeComReader struct {
	Client *wecom.Client
	// Config resolves an authenticator's app, secret unsealed (auth.WeCom.Config).
	Config func(models.Authenticator) (wecom.Config, error)
}

// MemberStatus implements MemberReader: WeCom's status, models.MemberUnavailable when user/get says the
// member is gone or out of the app's visible range (60111, 60011, 40003: wecom-directory.md §1), and an
// error for anything else, which cuts nobody off.
func (r WeComReader) MemberStatus(ctx context.Context, a models.Authenticator, userid string) (int, error) {
	cfg, err := r.Config(a)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAppUnavailable, err)
	}
	m, err := r.Client.User(ctx, cfg, userid)
	switch code := wecom.CodeOf(err); {
	case err == nil:
		return m.Status, nil
	case code == 60111 || code == 60011 || code == 40003:
		return models.MemberUnavailable, nil
	case code == 45009 || code == 45033:
		return 0, fmt.Errorf("%w: %w", ErrThrottled, err)
	case code == wecom.CodeBreakerOpen || wecom.IsConfigError(code):
		return 0, fmt.Errorf("%w: %w", ErrAppUnavailable, err)
	default:
		return 0, err
	}
}
