package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/wecom"
)

// Outcomes of a WeCom sign-in that ends without a session (DESIGN.md §6). Tests and monitors rely on
// these names: keep them stable.
const (
	OutcomeStateInvalid             = "state_invalid"
	OutcomeAuthenticatorUnavailable = "authenticator_unavailable"
	OutcomeCancelled                = "cancelled"
	OutcomeNotMember                = "not_member"
	OutcomeNoAccount                = "no_account"
	OutcomeFirstSigninInClient      = "first_signin_in_client"
	OutcomeUserDisabled             = "user_disabled"
	OutcomeWeComError               = "wecom_error"
	// OutcomeBindingConflict: the mobile matches a user already bound to another member of this corp
	// (the number changed hands); an administrator must sort it out.
	OutcomeBindingConflict = "binding_conflict"
	// OutcomeConfirmPassword: the mobile matches an administrator or a user with a password, who
	// must confirm with that password before the binding is made.
	OutcomeConfirmPassword = "confirm_password"
	// OutcomeBindByAdmin: the mobile matches an administrator without a password, whom a mobile
	// number alone never binds and who has nothing to confirm with; another administrator binds it.
	OutcomeBindByAdmin = "bind_by_admin"
	// OutcomeMemberLeft: WeCom says the member left, is disabled or is no longer in the app's visible
	// range, or the binding is suspended for that reason (DESIGN.md §11). It comes before any other
	// outcome of a bound member.
	OutcomeMemberLeft = "member_left"
)

// maxCodeLen bounds the OAuth code accepted on a callback: WeCom's codes are a few dozen bytes, well
// under this; anything longer is not one of them and is never forwarded to WeCom.
const maxCodeLen = 512

// PlausibleCode tells whether code could be a WeCom OAuth code: at most maxCodeLen bytes of printable
// ASCII. A callback with anything else is refused (state_invalid) before any call to WeCom.
func PlausibleCode(code string) bool {
	if code == "" || len(code) > maxCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] > '~' {
			return false
		}
	}
	return true
}

// Refusal is a WeCom sign-in that ends without a session, with the outcome to show and audit.
type Refusal struct {
	Outcome string
	Code    int    // WeCom's errcode for OutcomeWeComError
	UserID  string // the WeCom userid, when known
	// InClient tells whether the code came from the in-client flow (the first-sign-in page differs).
	InClient bool
	// MatchedUserID is the user the mobile matched, for OutcomeConfirmPassword.
	MatchedUserID int64
	Err           error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return "wecom sign-in refused: " + r.Outcome + ": " + r.Err.Error()
	}
	return "wecom sign-in refused: " + r.Outcome
}

func (r *Refusal) Unwrap() error { return r.Err }

// WeComBases are the WeCom hosts from the configuration; an authenticator may override the API host.
type WeComBases struct {
	API, OAuth, Login string
	// HTTPHosts may be an authenticator's API host over plain http (GATEHOUSE_WECOM_ALLOW_HTTP);
	// any other non-loopback API host must be https.
	HTTPHosts []string
}

// WeCom resolves WeCom identities to users (DESIGN.md §6 rules 3–7).
type WeCom struct {
	store  *models.Store
	client *wecom.Client
	sealer *models.Sealer
	bases  WeComBases
	now    func() time.Time
	// handoffTTL is how long a hand-off QR code works (GATEHOUSE_HANDOFF_TTL).
	handoffTTL time.Duration
	// directory checks and refreshes what WeCom says of a bound member at each sign-in (nil: not at all).
	directory *directory.Refresher
	log       *slog.Logger
}

// WithDirectory makes every WeCom sign-in of a bound member check its binding is not suspended and
// refresh the member's status, departments and tags; log records refreshes that fail.
func (w *WeCom) WithDirectory(r *directory.Refresher, log *slog.Logger) *WeCom {
	w.directory, w.log = r, log
	return w
}

// NewWeCom builds the WeCom sign-in rules.
func NewWeCom(store *models.Store, client *wecom.Client, sealer *models.Sealer, bases WeComBases, now func() time.Time) *WeCom {
	return &WeCom{store: store, client: client, sealer: sealer, bases: bases, now: now}
}

// httpAllowed tells whether the operator allowed plain http to host.
func (w *WeCom) httpAllowed(host string) bool {
	for _, h := range w.bases.HTTPHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Bases returns the configured WeCom hosts.
func (w *WeCom) Bases() WeComBases { return w.bases }

// Config is the WeCom app of an authenticator, with its secret unsealed.
func (w *WeCom) Config(a models.Authenticator) (wecom.Config, error) {
	secret, err := w.sealer.Open(a.SecretSealed, models.AuthenticatorSecret(a.Name))
	if err != nil {
		return wecom.Config{}, fmt.Errorf("open secret of authenticator %q: %w", a.Name, err)
	}
	base := a.Options.APIBase
	if base == "" {
		base = w.bases.API
	}
	return wecom.Config{APIBase: base, CorpID: a.Options.CorpID, AgentID: a.Options.AgentID, Secret: secret}, nil
}

// SignIn exchanges a code for the WeCom member and returns the user to sign in, or a *Refusal.
// inClient tells whether the code came from in-client OAuth (snsapi_privateinfo), the only flow whose
// user_ticket can reveal the mobile number that matches a first sign-in.
func (w *WeCom) SignIn(ctx context.Context, a models.Authenticator, code string, inClient bool) (models.User, models.Binding, error) {
	refuse := func(outcome string, userID string, err error) (models.User, models.Binding, error) {
		return models.User{}, models.Binding{}, &Refusal{Outcome: outcome, Code: wecom.CodeOf(err), UserID: userID, InClient: inClient, Err: err}
	}
	cfg, err := w.Config(a)
	if errors.Is(err, models.ErrUnseal) {
		// The stored secret does not open here (copied from another row, tampered, or sealed under a key
		// no longer configured): nobody can sign in with it until an administrator types it again.
		return refuse(OutcomeAuthenticatorUnavailable, "", err)
	}
	if err != nil {
		return models.User{}, models.Binding{}, err
	}
	info, err := w.client.UserInfo(ctx, cfg, code)
	if err != nil {
		return refuse(OutcomeWeComError, "", err)
	}
	return w.resolve(ctx, a, cfg, info, inClient)
}

// resolve applies rules 3–5 to the member WeCom named for a code: the user to sign in, or a *Refusal.
func (w *WeCom) resolve(ctx context.Context, a models.Authenticator, cfg wecom.Config, info wecom.UserInfo, inClient bool) (models.User, models.Binding, error) {
	refuse := func(outcome string, userID string, err error) (models.User, models.Binding, error) {
		return models.User{}, models.Binding{}, &Refusal{Outcome: outcome, Code: wecom.CodeOf(err), UserID: userID, InClient: inClient, Err: err}
	}
	if info.UserID == "" {
		return refuse(OutcomeNotMember, "", nil)
	}
	// Rule 4; a binding made at another corp (the authenticator was re-pointed) is treated as absent.
	b, found, err := w.currentBinding(ctx, a, info.UserID)
	if err != nil {
		return models.User{}, models.Binding{}, err
	}
	if found {
		return w.finishMember(ctx, a, cfg, b, info.UserID, inClient)
	}
	// A bind or sign-up that loses a race (the same member signing in on two devices at once) finds
	// the winner's binding and signs in with it. Any other conflict (the userid or user is taken by a
	// binding of another corp) is never bound over silently: an administrator sorts it out.
	resolveConflict := func(err error) (models.User, models.Binding, error) {
		if !errors.Is(err, models.ErrConflict) {
			return models.User{}, models.Binding{}, err
		}
		b, found, rerr := w.currentBinding(ctx, a, info.UserID)
		if rerr != nil {
			return models.User{}, models.Binding{}, rerr
		}
		if found {
			return w.finishMember(ctx, a, cfg, b, info.UserID, inClient)
		}
		return refuse(OutcomeBindingConflict, info.UserID, err)
	}
	if info.UserTicket == "" {
		if inClient {
			// In the client but no ticket: most often the member is outside the app's visible range,
			// which user/get tells precisely (60011); otherwise WeCom withheld consent.
			if _, err := w.client.User(ctx, cfg, info.UserID); err != nil {
				return refuse(OutcomeWeComError, info.UserID, err)
			}
		}
		return refuse(OutcomeFirstSigninInClient, info.UserID, nil)
	}
	detail, err := w.client.UserDetail(ctx, cfg, info.UserTicket)
	if err != nil {
		return refuse(OutcomeWeComError, info.UserID, err)
	}
	mobile, err := models.NormalizeMobile(detail.Mobile)
	if err != nil || mobile == "" {
		return refuse(OutcomeFirstSigninInClient, info.UserID, nil) // no mobile consent: nothing verified to match on
	}
	u, err := w.store.UserByMobile(ctx, mobile)
	switch {
	case err == nil && u.Disabled:
		return refuse(OutcomeUserDisabled, info.UserID, nil) // refused before anything is written
	case err == nil:
		// A user already bound to a member of another corp is not taken over by a mobile number that
		// a second corp vouches for: an administrator binds such a user by hand.
		if other, err := w.boundElsewhere(ctx, u, a); err != nil || other {
			if err != nil {
				return models.User{}, models.Binding{}, err
			}
			return refuse(OutcomeBindingConflict, info.UserID, nil)
		}
		if u.IsAdmin && !u.HasPassword() {
			// Nothing to confirm with: only another administrator can bind this account.
			return refuse(OutcomeBindByAdmin, info.UserID, nil)
		}
		if Privileged(u) {
			// A mobile number is not enough to take over an admin or a password account: its owner
			// confirms with the password first (ConfirmBind).
			return models.User{}, models.Binding{}, &Refusal{Outcome: OutcomeConfirmPassword, UserID: info.UserID, InClient: inClient, MatchedUserID: u.ID}
		}
		b, err = w.bind(ctx, a, u, info.UserID, "mobile")
		if err != nil {
			return resolveConflict(err)
		}
		return w.finishMember(ctx, a, cfg, b, info.UserID, inClient)
	case !errors.Is(err, models.ErrNotFound):
		return models.User{}, models.Binding{}, err
	case !a.Options.AutoSignup:
		return refuse(OutcomeNoAccount, info.UserID, nil)
	}
	member, err := w.client.User(ctx, cfg, info.UserID)
	if err != nil {
		return refuse(OutcomeWeComError, info.UserID, err)
	}
	b, err = w.signup(ctx, a, info.UserID, member.Name, mobile, firstNonEmpty(detail.Email, detail.BizMail), detail.Avatar)
	if err != nil {
		return resolveConflict(err)
	}
	return w.finishMember(ctx, a, cfg, b, info.UserID, inClient)
}

// Privileged tells whether a mobile match alone must not bind u: an administrator, or anyone who
// can sign in with a password.
func Privileged(u models.User) bool { return u.IsAdmin || u.HasPassword() }

// currentBinding finds the binding of subject at a made in a's current corp; a binding from another
// corp is reported as absent (found false), never used to sign in.
func (w *WeCom) currentBinding(ctx context.Context, a models.Authenticator, subject string) (models.Binding, bool, error) {
	b, err := w.store.BindingBySubject(ctx, a.ID, subject)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return b, false, nil
	case err != nil:
		return b, false, err
	}
	return b, b.CorpID == a.Options.CorpID, nil
}

// finishMember ends the sign-in of the member of binding b, whose identity WeCom just confirmed: a
// suspended binding or a member WeCom now reports gone ends on member_left before any other outcome;
// otherwise the member's facts are refreshed (a refresh that fails is logged and the last facts kept:
// it never blocks the sign-in) and the user is loaded.
func (w *WeCom) finishMember(ctx context.Context, a models.Authenticator, cfg wecom.Config, b models.Binding, userID string, inClient bool) (models.User, models.Binding, error) {
	if w.directory != nil {
		res, err := w.directory.SignIn(ctx, a, cfg, b)
		if res.Gone && err == nil {
			return models.User{}, b, &Refusal{Outcome: OutcomeMemberLeft, UserID: userID, InClient: inClient}
		}
		switch {
		case errors.Is(err, directory.ErrNotRefreshed):
			w.log.Warn("refresh the WeCom member at sign-in; the last facts are kept", "authenticator", a.Name, "userid", userID, "err", err)
		case err != nil:
			// The suspension could not be checked (the database): no sign-in without it.
			return models.User{}, b, err
		}
	}
	return w.finish(ctx, b, userID, inClient)
}

// suspended tells whether binding id is suspended because WeCom reported its member gone.
func (w *WeCom) suspended(ctx context.Context, bindingID int64) (bool, error) {
	m, _, err := w.store.DirectoryMemberOf(ctx, bindingID)
	return m.SuspendedAt != nil, err
}

// finish loads the bound user and refuses a disabled one.
func (w *WeCom) finish(ctx context.Context, b models.Binding, userID string, inClient bool) (models.User, models.Binding, error) {
	u, err := w.store.UserByID(ctx, b.UserID)
	if err != nil {
		return u, b, err
	}
	if u.Disabled {
		return models.User{}, b, &Refusal{Outcome: OutcomeUserDisabled, UserID: userID, InClient: inClient}
	}
	return u, b, nil
}

// boundElsewhere tells whether u is bound to a WeCom member of a corp other than a's.
func (w *WeCom) boundElsewhere(ctx context.Context, u models.User, a models.Authenticator) (bool, error) {
	list, err := w.store.UserBindings(ctx, u.ID)
	if err != nil {
		return false, err
	}
	for _, b := range list {
		if b.CorpID != "" && b.CorpID != a.Options.CorpID {
			return true, nil
		}
	}
	return false, nil
}

func (w *WeCom) bind(ctx context.Context, a models.Authenticator, u models.User, subject, by string) (models.Binding, error) {
	b := models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: subject, CorpID: a.Options.CorpID, CreatedAt: w.now()}
	if err := w.store.CreateBinding(ctx, &b); err != nil {
		return b, err
	}
	return b, w.store.Audit(ctx, models.Event{ActorUserID: u.ID, Action: models.ActionBindingCreate, Target: subject,
		Detail: map[string]any{"authenticator": a.Name, "user": u.Username, "by": by}})
}

// signup creates the user and the binding in one transaction: either both exist afterwards or neither.
func (w *WeCom) signup(ctx context.Context, a models.Authenticator, subject, name, mobile, email, avatar string) (models.Binding, error) {
	var b models.Binding
	err := w.store.InTx(ctx, func(tx *models.Store) error {
		username, err := freeUsername(ctx, tx, subject)
		if err != nil {
			return err
		}
		u := models.User{Username: username, Nickname: truncate(name, 128), Mobile: &mobile, AvatarURL: truncate(avatar, 512)}
		if addr := strings.TrimSpace(email); addr != "" && len(addr) <= 254 {
			u.Email = addr
		}
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		b = models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: subject, CorpID: a.Options.CorpID, CreatedAt: w.now()}
		if err := tx.CreateBinding(ctx, &b); err != nil {
			return err
		}
		return tx.Audit(ctx, models.Event{ActorUserID: u.ID, Action: models.ActionUserCreate, Target: u.Username,
			Detail: map[string]any{"authenticator": a.Name, "by": "wecom_auto_signup", "wecom_userid": subject}})
	})
	return b, err
}

// freeUsername derives a username from a WeCom userid, adding a number when it is taken.
func freeUsername(ctx context.Context, s *models.Store, userID string) (string, error) {
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r) {
			return r
		}
		return '_'
	}, userID)
	base = truncate(models.NormalizeUsername(base), 56)
	if base == "" {
		base = "wecom"
	}
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = base + "-" + strconv.Itoa(i)
		}
		taken, err := s.UsernameTaken(ctx, name, 0)
		if err != nil || !taken {
			return name, err
		}
	}
	return "", fmt.Errorf("no free username for %q", userID)
}

// RememberOutboundIP keeps the server's outbound IP that WeCom reported with a 60020 during a sign-in,
// for the "trusted IP" hint on the authenticator's edit page.
func (w *WeCom) RememberOutboundIP(ctx context.Context, a models.Authenticator, err error) error {
	var werr *wecom.Error
	if !errors.As(err, &werr) || werr.Code != 60020 || werr.FromIP == "" || werr.FromIP == a.Options.LastSeenIP {
		return nil
	}
	return w.store.UpdateAuthenticatorStatus(ctx, a.ID, func(o *models.AuthenticatorOptions) { o.LastSeenIP = werr.FromIP })
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
