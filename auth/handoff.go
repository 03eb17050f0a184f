package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gatehouse/models"
)

// Outcomes of the hand-off QR code (DESIGN.md §7). Tests and monitors rely on these names.
const (
	OutcomeHandoffDone     = "handoff_done"
	OutcomeHandoffMismatch = "handoff_mismatch"
	OutcomeHandoffInvalid  = "handoff_invalid"
	OutcomeHandoffPending  = "handoff_pending"
)

// DefaultHandoffTTL is how long a hand-off QR code works when GATEHOUSE_HANDOFF_TTL is not set.
const DefaultHandoffTTL = 5 * time.Minute

// MaxHandoffTTL bounds GATEHOUSE_HANDOFF_TTL: the desktop's cookie lives no longer than a sign-in state.
const MaxHandoffTTL = stateLifetime

// handoffClaimGrace lets a desktop that polls just after the phone finished at the last second still
// take its session.
const handoffClaimGrace = time.Minute

// HandoffTicket is what the desktop browser that started a hand-off keeps in its encrypted, signed
// cookie: which hand-off, the token (to draw the QR code again) and the browser secret whose hash the
// row holds. Without this cookie, a copy of the link or of the page signs nothing in.
type HandoffTicket struct {
	ID      int64  `json:"i"`
	Name    string `json:"n"` // authenticator
	Token   string `json:"t"`
	Secret  string `json:"s"`
	Expires int64  `json:"e"`
}

const handoffCookie = "gatehouse_wecom_handoff"

// BeginHandoff keeps t in this browser until it expires.
func (s *States) BeginHandoff(w http.ResponseWriter, r *http.Request, t HandoffTicket) error {
	maxAge := int(time.Unix(t.Expires, 0).Sub(s.now()).Seconds()) + int(handoffClaimGrace.Seconds())
	return s.put(w, r, handoffCookie, t, maxAge)
}

// PeekHandoff reads this browser's hand-off ticket for authenticator name.
func (s *States) PeekHandoff(r *http.Request, name string) (HandoffTicket, bool) {
	var t HandoffTicket
	if !s.read(r, handoffCookie, &t) || t.Name != name || t.ID == 0 {
		return HandoffTicket{}, false
	}
	return t, true
}

// ClearHandoff deletes the hand-off ticket.
func (s *States) ClearHandoff(w http.ResponseWriter, r *http.Request) { s.drop(w, r, handoffCookie) }

// WithHandoffTTL sets how long a hand-off QR code works.
func (w *WeCom) WithHandoffTTL(d time.Duration) *WeCom {
	w.handoffTTL = d
	return w
}

func (w *WeCom) ttl() time.Duration {
	if w.handoffTTL <= 0 {
		return DefaultHandoffTTL
	}
	return w.handoffTTL
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random hand-off value: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// StartHandoff records a hand-off for the member subject whose QR sign-in at a found no binding, and
// returns the desktop's ticket. The token and the browser secret are 256-bit random values, stored
// only as hashes.
func (w *WeCom) StartHandoff(ctx context.Context, a models.Authenticator, subject, redirect string) (HandoffTicket, error) {
	token, err := randomHex(32)
	if err != nil {
		return HandoffTicket{}, err
	}
	secret, err := randomHex(32)
	if err != nil {
		return HandoffTicket{}, err
	}
	now := w.now()
	h := models.Handoff{TokenHash: hashHex(token), BrowserHash: hashHex(secret), AuthenticatorID: a.ID, Subject: subject,
		Redirect: redirect, Status: models.HandoffPending, CreatedAt: now, ExpiresAt: now.Add(w.ttl())}
	if err := w.store.CreateHandoff(ctx, &h); err != nil {
		return HandoffTicket{}, fmt.Errorf("start hand-off at %q: %w", a.Name, err)
	}
	err = w.store.Audit(ctx, models.Event{Action: models.ActionHandoffStart, Target: subject,
		Detail: map[string]any{"authenticator": a.Name, "handoff": h.ID}})
	return HandoffTicket{ID: h.ID, Name: a.Name, Token: token, Secret: secret, Expires: h.ExpiresAt.Unix()}, err
}

func handoffInvalid(subject string) error {
	return &Refusal{Outcome: OutcomeHandoffInvalid, UserID: subject, InClient: true}
}

// OpenHandoff finds the live hand-off of a whose token the phone brought, or refuses with
// handoff_invalid: unknown, used, expired, cancelled, ended, or another authenticator's.
func (w *WeCom) OpenHandoff(ctx context.Context, a models.Authenticator, token string) (models.Handoff, error) {
	if len(token) != 64 {
		return models.Handoff{}, handoffInvalid("")
	}
	h, err := w.store.HandoffByTokenHash(ctx, hashHex(token))
	return w.pending(a, h, err)
}

// pending accepts a looked-up hand-off only while it is pending, unexpired and a's.
func (w *WeCom) pending(a models.Authenticator, h models.Handoff, err error) (models.Handoff, error) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return h, handoffInvalid("")
	case err != nil:
		return h, err
	case h.AuthenticatorID != a.ID || h.Status != models.HandoffPending || !w.now().Before(h.ExpiresAt):
		return h, handoffInvalid(h.Subject)
	}
	return h, nil
}

// CompleteHandoff runs the phone's in-client sign-in for hand-off id: the member must be the one the
// desktop saw (else handoff_mismatch, which ends the hand-off before anything is bound); then the
// usual in-client rules resolve and bind the member, and the hand-off is done for that user. Any
// refusal of those rules ends the hand-off too, with that outcome. The phone gets no session.
func (w *WeCom) CompleteHandoff(ctx context.Context, a models.Authenticator, id int64, code string) (models.Handoff, error) {
	h, err := w.store.HandoffByID(ctx, id)
	if h, err = w.pending(a, h, err); err != nil {
		return h, err
	}
	cfg, err := w.Config(a)
	if errors.Is(err, models.ErrUnseal) {
		return h, &Refusal{Outcome: OutcomeAuthenticatorUnavailable, InClient: true, Err: err}
	}
	if err != nil {
		return h, err
	}
	info, err := w.client.UserInfo(ctx, cfg, code)
	if err != nil {
		return h, &Refusal{Outcome: OutcomeWeComError, InClient: true, Err: err}
	}
	if info.UserID != h.Subject {
		return h, w.endHandoff(ctx, a, h, models.HandoffMismatch, &Refusal{Outcome: OutcomeHandoffMismatch, UserID: info.UserID, InClient: true})
	}
	_, b, err := w.resolve(ctx, a, cfg, info, true)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return h, w.endHandoff(ctx, a, h, models.HandoffRefused, refusal)
	}
	if err != nil {
		return h, err
	}
	moved, err := w.store.MoveHandoff(ctx, h.ID, models.HandoffPending, models.HandoffDone, w.now(),
		map[string]any{"user_id": b.UserID, "binding_id": b.ID})
	if err != nil {
		return h, err
	}
	if !moved { // cancelled or expired while the phone was at WeCom
		return h, handoffInvalid(h.Subject)
	}
	h.Status, h.UserID, h.BindingID = models.HandoffDone, b.UserID, b.ID
	return h, w.store.Audit(ctx, models.Event{ActorUserID: b.UserID, Action: models.ActionHandoffDone, Target: h.Subject,
		Detail: map[string]any{"authenticator": a.Name, "handoff": h.ID}})
}

// endHandoff ends a pending hand-off with status, audits why, and returns refusal (or handoff_invalid
// when another request ended it first).
func (w *WeCom) endHandoff(ctx context.Context, a models.Authenticator, h models.Handoff, status string, refusal *Refusal) error {
	now := w.now()
	moved, err := w.store.MoveHandoff(ctx, h.ID, models.HandoffPending, status, time.Time{}, map[string]any{"ended_at": now})
	if err != nil {
		return err
	}
	if !moved {
		return handoffInvalid(h.Subject)
	}
	action := models.ActionHandoffRefused
	if status == models.HandoffMismatch {
		action = models.ActionHandoffMismatch
	}
	detail := map[string]any{"authenticator": a.Name, "handoff": h.ID, "outcome": refusal.Outcome, "expected_userid": h.Subject}
	if refusal.UserID != "" {
		detail["wecom_userid"] = refusal.UserID
	}
	if err := w.store.Audit(ctx, models.Event{Action: action, Target: h.Subject, Detail: detail}); err != nil {
		return err
	}
	return refusal
}

// desktopHandoff loads the hand-off of this desktop's ticket, checking that the browser holds its secret.
func (w *WeCom) desktopHandoff(ctx context.Context, a models.Authenticator, t HandoffTicket) (models.Handoff, bool, error) {
	if t.ID == 0 || t.Name != a.Name {
		return models.Handoff{}, false, nil
	}
	h, err := w.store.HandoffByID(ctx, t.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return h, false, nil
	case err != nil:
		return h, false, err
	}
	ok := h.AuthenticatorID == a.ID && subtle.ConstantTimeCompare([]byte(hashHex(t.Secret)), []byte(h.BrowserHash)) == 1
	return h, ok, nil
}

// HandoffStatus tells the desktop holding t where its hand-off stands: OutcomeHandoffPending,
// OutcomeHandoffDone (ready to claim) or OutcomeHandoffInvalid (ended any other way, or not its own).
func (w *WeCom) HandoffStatus(ctx context.Context, a models.Authenticator, t HandoffTicket) (string, error) {
	h, ok, err := w.desktopHandoff(ctx, a, t)
	if err != nil || !ok {
		return OutcomeHandoffInvalid, err
	}
	now := w.now()
	switch {
	case h.Status == models.HandoffPending && now.Before(h.ExpiresAt):
		return OutcomeHandoffPending, nil
	case h.Status == models.HandoffDone && now.Before(h.ExpiresAt.Add(handoffClaimGrace)):
		return OutcomeHandoffDone, nil
	}
	return OutcomeHandoffInvalid, nil
}

// ClaimHandoff gives the desktop holding t the user its phone signed in, once: a done hand-off becomes
// used. Pending → a *Refusal handoff_pending; anything else → handoff_invalid.
func (w *WeCom) ClaimHandoff(ctx context.Context, a models.Authenticator, t HandoffTicket) (models.User, models.Handoff, error) {
	status, err := w.HandoffStatus(ctx, a, t)
	if err != nil {
		return models.User{}, models.Handoff{}, err
	}
	if status != OutcomeHandoffDone {
		return models.User{}, models.Handoff{}, &Refusal{Outcome: status}
	}
	h, err := w.store.HandoffByID(ctx, t.ID)
	if err != nil {
		return models.User{}, h, err
	}
	moved, err := w.store.MoveHandoff(ctx, h.ID, models.HandoffDone, models.HandoffUsed, time.Time{}, map[string]any{"ended_at": w.now()})
	if err != nil {
		return models.User{}, h, err
	}
	if !moved {
		return models.User{}, h, &Refusal{Outcome: OutcomeHandoffInvalid, UserID: h.Subject}
	}
	// The member may have been cut off since the phone signed in.
	if gone, err := w.suspended(ctx, h.BindingID); err != nil || gone {
		if err != nil {
			return models.User{}, h, err
		}
		return models.User{}, h, &Refusal{Outcome: OutcomeMemberLeft, UserID: h.Subject}
	}
	u, _, err := w.finish(ctx, models.Binding{ID: h.BindingID, UserID: h.UserID}, h.Subject, false)
	return u, h, err
}

// CancelHandoff ends the pending hand-off of the desktop holding t; it reports whether there was one.
func (w *WeCom) CancelHandoff(ctx context.Context, a models.Authenticator, t HandoffTicket) (bool, error) {
	h, ok, err := w.desktopHandoff(ctx, a, t)
	if err != nil || !ok {
		return false, err
	}
	moved, err := w.store.MoveHandoff(ctx, h.ID, models.HandoffPending, models.HandoffCancelled, time.Time{}, map[string]any{"ended_at": w.now()})
	if err != nil || !moved {
		return false, err
	}
	return true, w.store.Audit(ctx, models.Event{Action: models.ActionHandoffCancel, Target: h.Subject,
		Detail: map[string]any{"authenticator": a.Name, "handoff": h.ID}})
}
