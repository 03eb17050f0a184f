package auth

import (
	"context"
	"errors"
	"net/http"

	"gatehouse/models"
)

// PendingBind is a mobile match on a privileged user (Privileged) waiting for that user's password:
// which member of which corp, at which authenticator, matched which user. It lives in an encrypted,
// signed cookie of this browser for 10 minutes, like the sign-in state, so nothing is written before
// the password is confirmed; the binding it makes can be made once (a second use finds it taken).
type PendingBind struct {
	Name     string `json:"n"` // authenticator
	Subject  string `json:"s"` // WeCom userid
	Corp     string `json:"c"`
	UserID   int64  `json:"u"`
	Redirect string `json:"r"`
	Expires  int64  `json:"e"`
}

const bindCookie = "gatehouse_wecom_bind"

// BeginBind keeps pb in this browser for 10 minutes.
func (s *States) BeginBind(w http.ResponseWriter, r *http.Request, pb PendingBind) error {
	pb.Expires = s.now().Add(stateLifetime).Unix()
	return s.put(w, r, bindCookie, pb, int(stateLifetime.Seconds()))
}

// PeekBind reads this browser's pending binding for authenticator name without clearing it (a wrong
// password lets the person try again, within the password throttle).
func (s *States) PeekBind(r *http.Request, name string) (PendingBind, error) {
	var pb PendingBind
	if !s.read(r, bindCookie, &pb) || pb.Name != name || s.now().Unix() >= pb.Expires || pb.UserID == 0 || pb.Subject == "" {
		return PendingBind{}, ErrStateInvalid
	}
	return pb, nil
}

// ClearBind deletes the pending binding cookie.
func (s *States) ClearBind(w http.ResponseWriter, r *http.Request) { s.drop(w, r, bindCookie) }

// ConfirmBind binds the pending member to u once u's password was verified, and returns the binding
// to sign in with, or a *Refusal: the corp changed meanwhile (state_invalid), the user was disabled,
// or the member or user got bound otherwise (binding_conflict).
func (w *WeCom) ConfirmBind(ctx context.Context, a models.Authenticator, pb PendingBind, u models.User) (models.Binding, error) {
	refuse := func(outcome string, err error) (models.Binding, error) {
		return models.Binding{}, &Refusal{Outcome: outcome, UserID: pb.Subject, InClient: true, Err: err}
	}
	switch {
	case pb.Name != a.Name || pb.Corp != a.Options.CorpID || u.ID != pb.UserID:
		return refuse(OutcomeStateInvalid, nil)
	case u.Disabled:
		return refuse(OutcomeUserDisabled, nil)
	}
	if other, err := w.boundElsewhere(ctx, u, a); err != nil || other {
		if err != nil {
			return models.Binding{}, err
		}
		return refuse(OutcomeBindingConflict, nil)
	}
	b, err := w.bind(ctx, a, u, pb.Subject, "mobile_password")
	if errors.Is(err, models.ErrConflict) {
		// Already used: a pending binding works once, like a state.
		if cur, found, rerr := w.currentBinding(ctx, a, pb.Subject); rerr == nil && found && cur.UserID == u.ID {
			return refuse(OutcomeStateInvalid, nil)
		}
		return refuse(OutcomeBindingConflict, err)
	}
	return b, err
}
