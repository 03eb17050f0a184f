package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/wecom"
)

// WeComInput is the WeCom authenticator form (DESIGN.md §5), as submitted.
type WeComInput struct {
	Name, Title, Description       string
	Enabled, AutoSignup, AutoLogin bool
	// Handoff offers the hand-off QR code on the first-sign-in page (DESIGN.md §7).
	Handoff                          bool
	Sort                             string
	CorpID, AgentID, Secret          string
	Origin, RedirectPath, MobilePath string
	APIBase                          string
	// DeleteBindings confirms that changing the corp or API host deletes the existing bindings.
	DeleteBindings bool
	// EventToken and EventAESKey are the app's 接收消息 settings (write-only: empty keeps the stored
	// ones); ClearEvents removes them.
	EventToken, EventAESKey string
	ClearEvents             bool
}

var (
	slugPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	corpIDPattern = regexp.MustCompile(`^w[wx][0-9a-zA-Z]{14,30}$`)
)

// WeComAuthenticators applies the rules of WeCom authenticator administration.
type WeComAuthenticators struct {
	store  *models.Store
	sealer *models.Sealer
	client *wecom.Client
	wecom  *WeCom
	now    func() time.Time
}

// NewWeComAuthenticators builds the service.
func NewWeComAuthenticators(store *models.Store, sealer *models.Sealer, client *wecom.Client, w *WeCom, now func() time.Time) *WeComAuthenticators {
	return &WeComAuthenticators{store: store, sealer: sealer, client: client, wecom: w, now: now}
}

// validate checks in and applies it to a; the secret is sealed, or kept when empty on edit.
func (s *WeComAuthenticators) validate(ctx context.Context, in WeComInput, a *models.Authenticator, creating bool) error {
	bad := Invalid{}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		bad["name"] = "required"
	case !slugPattern.MatchString(in.Name):
		bad["name"] = "slug"
	case in.Name != a.Name:
		if _, err := s.store.AuthenticatorByName(ctx, in.Name); err == nil {
			bad["name"] = "name_taken"
		} else if !errors.Is(err, models.ErrNotFound) {
			return err
		}
	}
	if in.Title = strings.TrimSpace(in.Title); in.Title == "" {
		bad["title"] = "required"
	} else if len(in.Title) > 128 {
		bad["title"] = "too_long"
	}
	if len(in.Description) > 512 {
		bad["description"] = "too_long"
	}
	sort, err := strconv.Atoi(strings.TrimSpace(in.Sort))
	if strings.TrimSpace(in.Sort) == "" {
		sort, err = a.Sort, nil
	}
	if err != nil || sort < -100000 || sort > 100000 {
		bad["sort"] = "integer"
	}
	in.CorpID = strings.TrimSpace(in.CorpID)
	if in.CorpID == "" {
		bad["corp_id"] = "required"
	} else if !corpIDPattern.MatchString(in.CorpID) {
		bad["corp_id"] = "corp_id"
	}
	agentID, err := strconv.ParseInt(strings.TrimSpace(in.AgentID), 10, 64)
	if strings.TrimSpace(in.AgentID) == "" {
		bad["agent_id"] = "required"
	} else if err != nil || agentID <= 0 || agentID > 1<<31 {
		bad["agent_id"] = "agent_id"
	}
	apiBase, err := s.validAPIBase(in.APIBase)
	if err != nil {
		bad["api_base"] = err.Error()
	}
	// A new corp or API host gets the secret typed again: the stored one is never sent to a place it
	// was not saved for (DESIGN.md §6).
	moved := !creating && (in.CorpID != a.Options.CorpID || s.effectiveBase(apiBase) != s.effectiveBase(a.Options.APIBase))
	secret := strings.TrimSpace(in.Secret)
	switch {
	case secret == "" && (creating || a.SecretSealed == ""):
		bad["secret"] = "required"
	case secret == "" && moved:
		bad["secret"] = "secret_retype"
	case len(secret) > 256 || strings.ContainsAny(secret, " \t\r\n"):
		bad["secret"] = "secret"
	}
	checkEventSettings(&in, a, bad)
	if moved && !in.DeleteBindings {
		// Bindings made at the old corp (or through the old host) must not sign anyone in at the new
		// one: the admin confirms that they go.
		n, err := s.store.CountBindings(ctx, a.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			bad["delete_bindings"] = "delete_bindings"
		}
	}
	origin, err := ValidOrigin(in.Origin)
	if err != nil {
		bad["origin"] = err.Error()
	}
	for field, v := range map[string]*string{"redirect_path": &in.RedirectPath, "mobile_redirect_path": &in.MobilePath} {
		*v = strings.TrimSpace(*v)
		if *v != "" && SafeRedirect(*v, "") == "" {
			bad[field] = "local_path"
		}
	}
	if in.AutoLogin && in.Enabled {
		holder, err := s.store.AutoLoginAuthenticator(ctx)
		switch {
		case err == nil && holder.ID != a.ID:
			bad["auto_login"] = "auto_login_taken"
		case err != nil && !errors.Is(err, models.ErrNotFound):
			return err
		}
	}
	if len(bad) > 0 {
		return bad
	}
	prevName := a.Name // the secret is sealed for the name: a rename re-seals it
	a.Name, a.Type, a.Title, a.Description = in.Name, models.TypeWeCom, in.Title, strings.TrimSpace(in.Description)
	a.Enabled, a.Sort, a.AutoLogin = in.Enabled, sort, in.AutoLogin && in.Enabled
	a.Options.CorpID, a.Options.AgentID, a.Options.Origin = in.CorpID, agentID, origin
	a.Options.RedirectPath, a.Options.MobileRedirectPath = in.RedirectPath, in.MobilePath
	a.Options.AutoSignup, a.Options.APIBase, a.Options.Handoff = in.AutoSignup, apiBase, in.Handoff
	if a.SecretSealed, err = s.sealSecret(secret, prevName, *a); err != nil {
		return err
	}
	return s.sealEventSettings(in, prevName, a)
}

// validAPIBase checks an API base: empty (the configured host), or an absolute URL without
// credentials, query or fragment; https unless the host is loopback or allowed plain http by
// GATEHOUSE_WECOM_ALLOW_HTTP. The secret travels to this host, so nothing may smuggle it elsewhere.
func (s *WeComAuthenticators) validAPIBase(v string) (string, error) {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(v, "#?@\\") {
		return "", errors.New("url")
	}
	if u.Scheme == "http" && !models.IsLoopbackHost(u.Hostname()) && !s.wecom.httpAllowed(u.Hostname()) {
		return "", errors.New("api_base_https")
	}
	return v, nil
}

// effectiveBase is the API host an authenticator's calls go to: its own, else the configured one.
func (s *WeComAuthenticators) effectiveBase(base string) string {
	if base == "" {
		base = s.wecom.bases.API
	}
	if base == "" {
		base = wecom.DefaultAPIBase
	}
	return strings.TrimRight(base, "/")
}

// ValidOrigin checks an origin: an absolute http(s) URL without path, query or credentials; https unless
// the host is loopback. It returns the origin without a trailing slash, or an error whose text is a
// validation code.
func ValidOrigin(v string) (string, error) {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	if v == "" {
		return "", errors.New("required")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" {
		return "", errors.New("origin")
	}
	if InsecureOrigin(v) {
		return "", errors.New("origin_https")
	}
	return u.Scheme + "://" + u.Host, nil
}

// InsecureOrigin tells whether origin is plain http on a host other than loopback, which WeCom and
// browsers do not accept for sign-ins in production.
func InsecureOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && !models.IsLoopbackHost(u.Hostname())
}

// Create adds a WeCom authenticator.
func (s *WeComAuthenticators) Create(ctx context.Context, in WeComInput) (models.Authenticator, error) {
	a := models.Authenticator{Sort: 100}
	if err := s.validate(ctx, in, &a, true); err != nil {
		return a, err
	}
	err := s.store.CreateAuthenticator(ctx, &a)
	return a, storeConflicts(err)
}

// Change is what Update did, for the audit event.
type Change struct {
	Before, After   models.Authenticator
	BindingsDeleted int64 // bindings of the old corp or host, deleted after confirmation
	SessionsEnded   int64 // sessions made through the authenticator, ended by a move or by disabling it
}

// Update changes a WeCom authenticator. Changing the corp, app or secret drops the cached token; a
// new corp or API host needs the secret typed again and, when bindings exist, the confirmation that
// deletes them (and ends the sessions made through them) in the same transaction as the save.
// keepHash is the acting admin's session, which a disabling does not end ("" ends all).
func (s *WeComAuthenticators) Update(ctx context.Context, id int64, in WeComInput, keepHash string) (Change, error) {
	a, err := s.store.AuthenticatorByID(ctx, id)
	if err != nil {
		return Change{}, err
	}
	if !a.IsWeCom() {
		return Change{}, fmt.Errorf("authenticator %d is not WeCom: %w", id, models.ErrNotFound)
	}
	ch := Change{Before: a}
	if err := s.validate(ctx, in, &a, false); err != nil {
		return ch, err
	}
	ch.After = a
	moved := ch.Before.Options.CorpID != a.Options.CorpID || s.effectiveBase(ch.Before.Options.APIBase) != s.effectiveBase(a.Options.APIBase)
	err = s.store.InTx(ctx, func(tx *models.Store) error {
		if err := tx.SaveAuthenticator(ctx, &a); err != nil {
			return err
		}
		if ch.Before.Name != a.Name { // groups' rules name it (DESIGN.md §11)
			if _, err := tx.RenameAuthenticatorInGroups(ctx, ch.Before.Name, a.Name); err != nil {
				return err
			}
		}
		// Disabling ends the sessions made through the authenticator; so does a new corp or host,
		// whose bindings go too.
		if !moved && (a.Enabled || !ch.Before.Enabled) {
			return nil
		}
		var err error
		if moved {
			if ch.BindingsDeleted, err = tx.DeleteAuthenticatorBindings(ctx, a.ID); err != nil {
				return err
			}
		}
		ch.SessionsEnded, err = tx.RevokeAuthenticatorSessions(ctx, a.ID, keepHash, s.now())
		return err
	})
	if err := storeConflicts(err); err != nil {
		return ch, err
	}
	ch.After = a
	before := ch.Before
	if before.Options.CorpID != a.Options.CorpID || before.Options.AgentID != a.Options.AgentID || before.SecretSealed != a.SecretSealed || before.Options.APIBase != a.Options.APIBase {
		if err := s.store.DropTokens(ctx, before.Options.CorpID, before.Options.AgentID); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

// storeConflicts turns the database's refusals into field errors (two admins saving at once).
func storeConflicts(err error) error {
	switch {
	case errors.Is(err, models.ErrAutoLoginTaken):
		return Invalid{"auto_login": "auto_login_taken"}
	case errors.Is(err, models.ErrLastEnabled):
		return Invalid{"enabled": "last_enabled"}
	case errors.Is(err, models.ErrConflict):
		return Invalid{"name": "name_taken"}
	}
	return err
}

// Test fetches a fresh token with the saved settings (never the cached one), within 6 seconds, and
// saves the result, with the outbound IP WeCom reported, on the authenticator for its edit page.
func (s *WeComAuthenticators) Test(ctx context.Context, id int64) (models.ConnectionTest, error) {
	a, err := s.store.AuthenticatorByID(ctx, id)
	if err != nil {
		return models.ConnectionTest{}, err
	}
	cfg, err := s.wecom.Config(a)
	if err != nil {
		return models.ConnectionTest{}, err
	}
	ctx6, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	_, _, err = s.client.FetchToken(ctx6, cfg)
	res := models.ConnectionTest{At: s.now(), OK: err == nil, Code: wecom.CodeOf(err)}
	if err != nil && res.Code == 0 {
		res.Code = wecom.CodeUnreachable
	}
	var werr *wecom.Error
	fromIP := ""
	if errors.As(err, &werr) {
		fromIP = werr.FromIP
	}
	// Only the result is written: an edit saved while WeCom answered is kept.
	return res, s.store.UpdateAuthenticatorStatus(ctx, a.ID, func(o *models.AuthenticatorOptions) {
		if fromIP != "" {
			o.LastSeenIP = fromIP
		}
		o.LastTest = &res
	})
}
