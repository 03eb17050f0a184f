package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/models"
)

// OIDCMount is where the provider lives under the public origin; the issuer is origin + OIDCMount.
const OIDCMount = "/oidc"

// Lifetimes of the provider's artefacts (DESIGN.md §10).
const (
	DefaultAccessTokenTTL  = 15 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultIDTokenTTL      = time.Hour
	DefaultAuthRequestTTL  = 10 * time.Minute
	DefaultKeyRotation     = 30 * 24 * time.Hour
	// usedRequestRetention keeps used authorize requests and dead tokens this long after they expired,
	// so that a replayed code or refresh token is recognised (and its grant revoked) rather than unknown.
	usedRequestRetention = 24 * time.Hour
)

// OIDCConfig is what the provider is built from.
type OIDCConfig struct {
	// Origin is the public origin (GATEHOUSE_BASE_URL); the issuer is Origin + OIDCMount.
	Origin    *url.URL
	SecretKey []byte
	Sealer    *models.Sealer
	Now       func() time.Time
	// Groups are a user's group names (directory.UserGroups).
	Groups func(context.Context, models.User) ([]string, error)
	// Outcome records a refusal the provider decides itself (a replayed code): audit and metrics.
	Outcome func(ctx context.Context, app models.App, userID int64, outcome string)

	AccessTokenTTL, RefreshTokenTTL, IDTokenTTL, AuthRequestTTL time.Duration
}

// Provider is Gatehouse's OpenID Connect provider: the library's protocol handlers over the store,
// plus the login hand-off and logout confirmation that the web layer serves.
type Provider struct {
	cfg     OIDCConfig
	store   *models.Store
	op      *op.Provider
	keys    *keyring
	crypto  *sealer
	logout  *sealer
	issuer  string
	handler http.Handler
}

// NewProvider builds the provider.
func NewProvider(store *models.Store, cfg OIDCConfig) (*Provider, error) {
	if cfg.Origin == nil {
		return nil, errors.New("the OIDC provider needs the public origin (GATEHOUSE_BASE_URL)")
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Groups == nil {
		cfg.Groups = func(context.Context, models.User) ([]string, error) { return nil, nil }
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.AccessTokenTTL, DefaultAccessTokenTTL}, {&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL},
		{&cfg.IDTokenTTL, DefaultIDTokenTTL}, {&cfg.AuthRequestTTL, DefaultAuthRequestTTL}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	crypto, err := newSealer(models.DeriveKey(cfg.SecretKey, "oidc tokens"))
	if err != nil {
		return nil, err
	}
	logout, err := newSealer(models.DeriveKey(cfg.SecretKey, "oidc logout"))
	if err != nil {
		return nil, err
	}
	origin := strings.TrimRight(cfg.Origin.String(), "/")
	p := &Provider{cfg: cfg, store: store, crypto: crypto, logout: logout, issuer: origin + OIDCMount,
		keys: &keyring{store: store, sealer: cfg.Sealer, now: cfg.Now}}
	opCfg := &op.Config{
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: origin + "/",
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, ScopeGroups, oidc.ScopeOfflineAccess},
		SupportedClaims:          append(slices.Clone(op.DefaultSupportedClaims), "picture", "groups"),
	}
	opts := []op.Option{op.WithCrypto(crypto)}
	if cfg.Origin.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure()) // loopback, demo and tests; production is https
	}
	p.op, err = op.NewProvider(opCfg, &storage{p: p}, op.StaticIssuer(p.issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("build the OIDC provider: %w", err)
	}
	p.handler = p.buildHandler()
	return p, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

func (p *Provider) now() time.Time { return p.cfg.Now() }

func (p *Provider) client(a models.App) op.Client {
	return client{app: a, loginURL: p.issuer + "/login", idTTL: p.cfg.IDTokenTTL}
}

// Handler serves the library's endpoints (paths under OIDCMount): discovery, keys, authorize and its
// callback, token, userinfo, revocation, introspection, end_session.
func (p *Provider) Handler() http.Handler { return p.handler }

func (p *Provider) buildHandler() http.Handler {
	inner := http.StripPrefix(OIDCMount, p.op)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(memoKey{}).(*requestMemo); !ok {
			r = r.WithContext(withMemo(r.Context()))
		}
		// Tokens, codes and claims must never be cached (RFC 6749 §5.1); discovery and keys may be.
		if !strings.HasSuffix(r.URL.Path, "/openid-configuration") && !strings.HasSuffix(r.URL.Path, "/keys") {
			w.Header().Set("Cache-Control", "no-store")
		}
		if strings.HasSuffix(r.URL.Path, "/userinfo") {
			w = &userinfoWriter{ResponseWriter: w}
		}
		inner.ServeHTTP(w, r)
	})
}

// userinfoWriter turns the library's 403 for a token that no longer works (revoked, its session
// ended, its user disabled) into the 401 with WWW-Authenticate that RFC 6750 asks for.
type userinfoWriter struct{ http.ResponseWriter }

func (w *userinfoWriter) WriteHeader(code int) {
	if code == http.StatusForbidden {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		code = http.StatusUnauthorized
	}
	if code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Authorize problems that get a Gatehouse error page instead of a redirect: no redirect is safe.
const (
	ProblemUnknownClient   = "unknown_client"
	ProblemBadRedirectURI  = "bad_redirect_uri"
	ProblemInvalidRequest  = "invalid_request"
	problemPKCEDescription = "PKCE with code_challenge_method S256 is required"
)

// CheckAuthorize looks at an authorize request before the library does. An unknown or disabled client,
// or a redirect URI that is not registered byte for byte, is a problem for an error page (never a
// redirect). A public client without PKCE, or PKCE other than S256, is refused at the redirect URI
// (redirect is then set). Otherwise the app is returned and the library takes over.
func (p *Provider) CheckAuthorize(r *http.Request) (app models.App, problem, redirect string) {
	if err := r.ParseForm(); err != nil {
		return app, ProblemInvalidRequest, ""
	}
	clientID, redirectURI := r.Form.Get("client_id"), r.Form.Get("redirect_uri")
	a, err := (&storage{p: p}).app(r.Context(), clientID)
	if err != nil || clientID == "" {
		return app, ProblemUnknownClient, ""
	}
	if redirectURI == "" || !slices.Contains(a.RedirectURIs, redirectURI) {
		return a, ProblemBadRedirectURI, ""
	}
	challenge, method := r.Form.Get("code_challenge"), r.Form.Get("code_challenge_method")
	if (a.Public && challenge == "") || (challenge != "" && method != string(oidc.CodeChallengeMethodS256)) {
		e := oidc.ErrInvalidRequest().WithDescription(problemPKCEDescription)
		e.State = r.Form.Get("state")
		u, err := op.AuthResponseURL(redirectURI, oidc.ResponseTypeCode, oidc.ResponseMode(r.Form.Get("response_mode")), e, p.op.Encoder())
		if err != nil {
			return a, ProblemBadRedirectURI, ""
		}
		return a, "", u
	}
	return a, "", ""
}

// WithApp keeps an app checked by CheckAuthorize for the library's look-ups in the same request.
func (p *Provider) WithApp(r *http.Request, a models.App) *http.Request {
	ctx := withMemo(r.Context())
	ctx.Value(memoKey{}).(*requestMemo).apps[a.ClientID] = a
	return r.WithContext(ctx)
}

// ActionSigninOIDC is the audit action of every OpenID Connect grant and refusal (DESIGN.md §10).
const ActionSigninOIDC = "app.signin"

// SigninEvent is the audit event of a decision about a sign-in to an OIDC app.
func SigninEvent(a models.App, userID int64, ip, outcome string) models.Event {
	return models.Event{ActorUserID: userID, Action: ActionSigninOIDC, Target: a.Name, IP: ip, Outcome: outcome,
		Detail: map[string]any{"app": a.Name, "type": models.AppTypeOIDC, "outcome": outcome}}
}

// LoginKind is what the login hand-off does with the browser.
type LoginKind int

// What the login hand-off does.
const (
	LoginFinish  LoginKind = iota // the user may use the app: on to the library's callback (a code)
	LoginSignin                   // sign in first (again, with ForceLogin), then come back
	LoginRefuse                   // back to the app's redirect URI with an error (prompt=none)
	LoginDenied                   // the signed-in user may not use this app: the app_denied page
	LoginInvalid                  // unknown, expired or finished request: an error page
)

// LoginResult is the hand-off's decision.
type LoginResult struct {
	Kind LoginKind
	App  models.App
	// URL is the library's callback (LoginFinish) or the redirect URI with the error (LoginRefuse).
	URL string
	// Outcome names the decision for the audit log and metrics ("ok", "app_denied", "login_required").
	Outcome string
	// Audited: the grant's audit event was written with it (LoginFinish).
	Audited bool
	// ForceLogin: the sign-in page must ask again even though the browser is signed in (prompt=login,
	// max_age passed).
	ForceLogin bool
	LoginHint  string
}

// Login decides an authorize request's hand-off for the browser's signed-in user (nil: none): finish
// when the session is fresh enough (max_age; prompt=login wants a sign-in after the request began)
// and the app's rule lets the user in; else sign in, or refuse.
// A grant is audited here (ip is the browser's), in the transaction that completes the request.
func (p *Provider) Login(ctx context.Context, id string, u *models.User, sess *models.Session, ip string) (LoginResult, error) {
	now := p.now()
	r, a, err := p.store.OIDCAuthRequestWithApp(ctx, id, now)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (r.CodeHash != nil || !a.IsOIDC() || !a.Enabled)) {
		return LoginResult{Kind: LoginInvalid}, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	res := LoginResult{App: a, LoginHint: r.Params.LoginHint}
	promptNone := slices.Contains(r.Params.Prompt, oidc.PromptNone)
	if u == nil || sess == nil || !fresh(r, *sess, now) {
		if promptNone {
			res.Kind, res.Outcome, res.URL = LoginRefuse, "login_required", p.errorURL(r, oidc.ErrLoginRequired())
			return res, nil
		}
		res.Kind, res.ForceLogin = LoginSignin, u != nil
		return res, nil
	}
	var groups []string // only the access rule "groups" reads them, and admins always pass
	if a.Access == models.AccessGroups && !u.IsAdmin {
		if groups, err = p.cfg.Groups(ctx, *u); err != nil {
			return LoginResult{}, err
		}
	}
	if !Allowed(a, *u, groups) {
		res.Outcome = "app_denied"
		if promptNone {
			res.Kind, res.URL = LoginRefuse, p.errorURL(r, oidc.ErrAccessDenied())
			return res, nil
		}
		res.Kind = LoginDenied
		return res, nil
	}
	code, err := p.crypto.Encrypt(r.ID) // the code the library will hand out at the callback
	if err != nil {
		return LoginResult{}, err
	}
	err = p.store.InTx(ctx, func(tx *models.Store) error {
		if err := tx.CompleteOIDCAuthRequest(ctx, r.ID, u.ID, sess.ID, hashToken(code), sess.CreatedAt, now); err != nil {
			return err
		}
		return tx.Audit(ctx, SigninEvent(a, u.ID, ip, "ok"))
	})
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return LoginResult{Kind: LoginInvalid}, nil
		}
		return LoginResult{}, err
	}
	res.Kind, res.Outcome, res.Audited, res.URL = LoginFinish, "ok", true, p.issuer+"/authorize/callback?id="+url.QueryEscape(r.ID)
	return res, nil
}

// fresh tells whether a session may answer an authorize request: without max_age any live session
// does; with it, one signed in within max_age seconds or after the request began (prompt=login is
// max_age=0).
func fresh(r models.OIDCAuthRequest, sess models.Session, now time.Time) bool {
	if r.Params.MaxAge == nil {
		return true
	}
	if !sess.CreatedAt.Before(r.CreatedAt) {
		return true
	}
	return now.Sub(sess.CreatedAt) <= time.Duration(*r.Params.MaxAge)*time.Second
}

// errorURL is the redirect URI with an error and the request's state.
func (p *Provider) errorURL(r models.OIDCAuthRequest, e *oidc.Error) string {
	e.State = r.Params.State
	u, err := op.AuthResponseURL(r.Params.RedirectURI, oidc.ResponseType(r.Params.ResponseType), oidc.ResponseMode(r.Params.ResponseMode), e, p.op.Encoder())
	if err != nil {
		return r.Params.RedirectURI // registered; parsed before
	}
	return u
}

// CallbackAllowed tells whether the browser's session is the one the authorize request was completed
// with: the callback hands out the code, so only that browser may ask for it. The request it returns
// (with ok) carries the loaded authorize request on to the library.
func (p *Provider) CallbackAllowed(r *http.Request, sessionID string) (*http.Request, bool, error) {
	req, a, err := p.store.OIDCAuthRequestWithApp(r.Context(), r.URL.Query().Get("id"), p.now())
	if errors.Is(err, models.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if !req.Done || sessionID == "" || req.SessionID != sessionID || !a.IsOIDC() || !a.Enabled {
		return r, false, nil
	}
	ctx := withMemo(r.Context())
	memo := ctx.Value(memoKey{}).(*requestMemo)
	memo.req, memo.apps[a.ClientID] = &req, a
	return r.WithContext(ctx), true, nil
}

// RedirectOriginFor is the origin of the redirect URI of the authorize request a local path returns to
// ("/oidc/login?id=…"), for the sign-in page's CSP form-action; ok is false for any other path.
func (p *Provider) RedirectOriginFor(ctx context.Context, path string) (string, bool) {
	rest, found := strings.CutPrefix(path, OIDCMount+"/login?")
	if !found {
		return "", false
	}
	q, err := url.ParseQuery(rest)
	if err != nil || q.Get("id") == "" {
		return "", false
	}
	r, err := p.store.OIDCAuthRequest(ctx, q.Get("id"), p.now())
	if err != nil {
		return "", false
	}
	u, err := url.Parse(r.Params.RedirectURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// logoutTicket is what the end_session endpoint hands to the sign-out confirmation.
type logoutTicket struct {
	Redirect string `json:"r"`
	ClientID string `json:"c,omitempty"`
	Expires  int64  `json:"e"`
}

// logoutTTL bounds the sign-out confirmation's ticket.
const logoutTTL = 10 * time.Minute

// logoutURL is Gatehouse's sign-out confirmation, carrying the validated post-logout URI sealed.
func (p *Provider) logoutURL(redirect, clientID string) (string, error) {
	b, err := json.Marshal(logoutTicket{Redirect: redirect, ClientID: clientID, Expires: p.now().Add(logoutTTL).Unix()})
	if err != nil {
		return "", err
	}
	t, err := p.logout.Encrypt(string(b))
	if err != nil {
		return "", err
	}
	return p.issuer + "/logout?t=" + t, nil
}

// LogoutTarget opens a sign-out ticket: where to go after signing out, and the app's client id.
func (p *Provider) LogoutTarget(ticket string) (redirect, clientID string, ok bool) {
	plain, err := p.logout.Decrypt(ticket)
	if err != nil {
		return "", "", false
	}
	var t logoutTicket
	if json.Unmarshal([]byte(plain), &t) != nil || p.now().Unix() > t.Expires || t.Redirect == "" {
		return "", "", false
	}
	return t.Redirect, t.ClientID, true
}

// AppByClientID loads an enabled OIDC app (for pages that name it).
func (p *Provider) AppByClientID(ctx context.Context, clientID string) (models.App, error) {
	return (&storage{p: p}).app(ctx, clientID)
}

// Sweep deletes authorize requests and tokens that expired more than a day ago.
func (p *Provider) Sweep(ctx context.Context) (int64, error) {
	return p.store.SweepOIDC(ctx, p.now().Add(-usedRequestRetention))
}

// RotateKeysIfOlder rotates the signing key when the current one is older than every (scheduled
// rotation); it tells whether it did.
func (p *Provider) RotateKeysIfOlder(ctx context.Context, every time.Duration) (bool, error) {
	return p.keys.rotate(ctx, every)
}

// EnsureKey makes the first signing key if there is none (at start-up, so the first sign-in does not
// wait for RSA key generation).
func (p *Provider) EnsureKey(ctx context.Context) error {
	_, _, err := p.keys.load(ctx)
	return err
}

// RotateSigningKey makes a new signing key now and retires the current one, which stays in the key set
// until the tokens it signed have expired (`gatehouse oidc rotate-keys`).
func RotateSigningKey(ctx context.Context, store *models.Store, sealer *models.Sealer) error {
	k := &keyring{store: store, sealer: sealer, now: func() time.Time { return time.Now().UTC() }}
	_, err := k.rotate(ctx, 0)
	return err
}

// outcome reports a refusal the storage decided.
func (p *Provider) outcome(ctx context.Context, appID int64, userID *int64, outcome string) {
	if p.cfg.Outcome == nil {
		return
	}
	a, err := p.store.App(ctx, appID)
	if err != nil {
		a = models.App{ID: appID}
	}
	var uid int64
	if userID != nil {
		uid = *userID
	}
	p.cfg.Outcome(ctx, a, uid, outcome)
}
