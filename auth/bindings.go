package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gatehouse/models"
	"gatehouse/wecom"
)

// WeCom member statuses as user/get reports them (wecom-directory.md §1).
const (
	MemberActive       = 1
	MemberDisabled     = 2
	MemberNotActivated = 4
	MemberLeft         = 5
)

// CheckTimeout bounds the live user/get checks of a page: the user page shows what WeCom answered by
// then and "unknown" for the rest, so a slow or unreachable WeCom never makes the page slow.
const CheckTimeout = 2 * time.Second

// MemberCheck is what WeCom said of a member just now: its name and status, or the errcode of the
// refusal or failure (Code != 0).
type MemberCheck struct {
	UserID string
	Name   string
	Status int
	Code   int
}

// Bindings administers WeCom bindings by hand: an administrator binds a user to a member after WeCom
// confirms the member exists, is visible and active; members remove their own (not their last way in).
type Bindings struct {
	store *models.Store
	wecom *WeCom
	now   func() time.Time
}

// NewBindings builds the service.
func NewBindings(store *models.Store, w *WeCom, now func() time.Time) *Bindings {
	return &Bindings{store: store, wecom: w, now: now}
}

// Check asks WeCom (user/get through authenticator a) what it says of userID now.
func (s *Bindings) Check(ctx context.Context, a models.Authenticator, userID string) MemberCheck {
	cfg, err := s.wecom.Config(a)
	if err != nil {
		return MemberCheck{UserID: userID, Code: wecom.CodeBadResponse}
	}
	m, err := s.wecom.client.User(ctx, cfg, userID)
	if err != nil {
		return MemberCheck{UserID: userID, Code: wecom.CodeOf(err)}
	}
	return MemberCheck{UserID: m.UserID, Name: m.Name, Status: m.Status}
}

// CheckAll checks the member of every binding at once, each through its own authenticator, within
// CheckTimeout; the result is keyed by binding id. A binding whose authenticator is gone, disabled or
// moved to another corp is not checked (absent from the result).
func (s *Bindings) CheckAll(ctx context.Context, list []models.BindingWithAuthenticator) map[int64]MemberCheck {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	enabled, err := s.store.EnabledAuthenticators(ctx)
	if err != nil {
		return nil
	}
	byID := map[int64]models.Authenticator{}
	for _, a := range enabled {
		byID[a.ID] = a
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[int64]MemberCheck, len(list))
	)
	for _, b := range list {
		a, ok := byID[b.AuthenticatorID]
		if !ok || !a.IsWeCom() || a.Options.CorpID != b.CorpID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := s.Check(ctx, a, b.Subject)
			mu.Lock()
			out[b.ID] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Bind binds the user to the WeCom member userID at the enabled WeCom authenticator named authName,
// after user/get confirms the member. Bad input and refusals are Invalid ("authenticator" or "userid"
// field); the check is returned whenever WeCom answered, so the page can show the member's name.
func (s *Bindings) Bind(ctx context.Context, userID int64, authName, memberID string) (models.Binding, models.Authenticator, MemberCheck, error) {
	memberID = strings.TrimSpace(memberID)
	var none MemberCheck
	a, err := s.store.EnabledAuthenticatorByName(ctx, authName)
	switch {
	case errors.Is(err, models.ErrNotFound) || (err == nil && !a.IsWeCom()):
		return models.Binding{}, a, none, Invalid{"authenticator": "binding_authenticator"}
	case err != nil:
		return models.Binding{}, a, none, err
	}
	if bad := validMemberID(memberID); bad != "" {
		return models.Binding{}, a, none, Invalid{"userid": bad}
	}
	if err := s.checkFree(ctx, userID, a, memberID); err != nil {
		return models.Binding{}, a, none, err
	}
	check := s.Check(ctx, a, memberID)
	if bad := refusal(check); bad != "" {
		return models.Binding{}, a, check, Invalid{"userid": bad}
	}
	if check.UserID != "" && check.UserID != memberID {
		// WeCom's spelling of the userid is what sign-in will present: bind that one.
		memberID = check.UserID
		if err := s.checkFree(ctx, userID, a, memberID); err != nil {
			return models.Binding{}, a, check, err
		}
	}
	b := models.Binding{UserID: userID, AuthenticatorID: a.ID, Subject: memberID, CorpID: a.Options.CorpID, CreatedAt: s.now()}
	if err := s.store.CreateBinding(ctx, &b); err != nil {
		if errors.Is(err, models.ErrConflict) { // a concurrent bind won the race
			return b, a, check, Invalid{"userid": "binding_taken"}
		}
		return b, a, check, fmt.Errorf("bind user %d to %q at %q: %w", userID, memberID, a.Name, err)
	}
	return b, a, check, nil
}

// checkFree refuses a userid bound to anyone at a, and a user already bound at a.
func (s *Bindings) checkFree(ctx context.Context, userID int64, a models.Authenticator, memberID string) error {
	other, err := s.store.BindingBySubject(ctx, a.ID, memberID)
	switch {
	case err == nil && other.UserID == userID:
		return Invalid{"userid": "binding_exists"}
	case err == nil:
		return Invalid{"userid": "binding_taken"}
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	list, err := s.store.UserBindings(ctx, userID)
	if err != nil {
		return err
	}
	for _, b := range list {
		if b.AuthenticatorID == a.ID {
			return Invalid{"authenticator": "binding_user_bound"}
		}
	}
	return nil
}

// validMemberID names what is wrong with a typed userid ("" when it has WeCom's shape).
func validMemberID(v string) string {
	switch {
	case v == "":
		return "required"
	case !ValidWeComUserID(v):
		return "binding_userid"
	}
	return ""
}

// refusal says why a checked member may not be bound ("" when it may). A member not yet activated
// (status 4) may: binding ahead of activation is how existing accounts are rolled out.
func refusal(c MemberCheck) string {
	switch c.Code {
	case 0:
	case 60111, 46004, 40003:
		return "binding_unknown"
	case 60011:
		return "binding_invisible"
	default:
		return "binding_wecom_error"
	}
	switch c.Status {
	case MemberDisabled:
		return "binding_disabled"
	case MemberLeft:
		return "binding_left"
	}
	return ""
}
