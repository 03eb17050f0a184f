package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/models"
)

// storage is the provider library's op.Storage over Gatehouse's store: nothing lives only in memory
// (but the signing keys' short cache), so any instance continues a flow another began.
type storage struct {
	p *Provider
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// hashToken is how tokens and codes are stored: by the SHA-256 of their secret.
func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// requestMemo keeps the app loaded for one request, so the several client look-ups the library makes
// in one request cost one query. It lives in the request's context only.
type requestMemo struct {
	apps map[string]models.App
	// req is the authorize request the callback's check loaded, for the library's look-up after it.
	req *models.OIDCAuthRequest
}

type memoKey struct{}

// withMemo gives a request its memo.
func withMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &requestMemo{apps: map[string]models.App{}})
}

// app loads an enabled OIDC application by client id.
func (s *storage) app(ctx context.Context, clientID string) (models.App, error) {
	memo, _ := ctx.Value(memoKey{}).(*requestMemo)
	if memo != nil {
		if a, ok := memo.apps[clientID]; ok {
			return a, nil
		}
	}
	a, err := s.p.store.AppByClientID(ctx, clientID)
	if err != nil {
		return a, err
	}
	if !a.IsOIDC() || !a.Enabled {
		return a, fmt.Errorf("app %q is not an enabled OIDC client: %w", a.Name, models.ErrNotFound)
	}
	if memo != nil {
		memo.apps[clientID] = a
	}
	return a, nil
}

// serverError keeps a database fault a server_error and anything else a plain error (unknown client).
func serverError(err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return err
	}
	return oidc.ErrServerError().WithParent(err)
}

func (s *storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	a, err := s.app(ctx, clientID)
	if err != nil {
		return nil, serverError(err)
	}
	return s.p.client(a), nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	a, err := s.app(ctx, clientID)
	if err != nil {
		return serverError(err)
	}
	if a.Public || !CheckSecret(a.SecretHash, secret) {
		return errors.New("wrong client secret")
	}
	return nil
}

// authRequest is a stored authorize request as the library sees it. user is set once the code has
// been claimed and the user checked, so the ID token's claims cost no second query.
type authRequest struct {
	r    models.OIDCAuthRequest
	user *models.User
}

func (a *authRequest) GetID() string          { return a.r.ID }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return nil }
func (a *authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a *authRequest) GetClientID() string    { return a.r.ClientID }
func (a *authRequest) GetNonce() string       { return a.r.Params.Nonce }
func (a *authRequest) GetRedirectURI() string { return a.r.Params.RedirectURI }
func (a *authRequest) GetScopes() []string    { return a.r.Params.Scopes }
func (a *authRequest) GetState() string       { return a.r.Params.State }
func (a *authRequest) Done() bool             { return a.r.Done }
func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.r.Params.ResponseMode)
}
func (a *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.Params.ResponseType)
}
func (a *authRequest) GetAuthTime() time.Time {
	if a.r.AuthTime == nil {
		return time.Time{}
	}
	return *a.r.AuthTime
}
func (a *authRequest) GetSubject() string {
	if a.r.UserID == nil {
		return ""
	}
	return Subject(*a.r.UserID)
}
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.Params.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.Params.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.Params.CodeChallengeMethod)}
}

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a, err := s.app(ctx, req.ClientID)
	if err != nil {
		return nil, serverError(err)
	}
	now := s.p.now()
	r := models.OIDCAuthRequest{
		ID: random(32), AppID: a.ID, ClientID: a.ClientID, CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.AuthRequestTTL),
		Params: models.OIDCParams{
			RedirectURI: req.RedirectURI, Scopes: req.Scopes, State: req.State, Nonce: req.Nonce,
			ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
			CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
			Prompt: req.Prompt, MaxAge: req.MaxAge, LoginHint: req.LoginHint,
		},
	}
	if err := s.p.store.CreateOIDCAuthRequest(ctx, &r); err != nil {
		return nil, err
	}
	return &authRequest{r: r}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	if memo, _ := ctx.Value(memoKey{}).(*requestMemo); memo != nil && memo.req != nil && memo.req.ID == id {
		return &authRequest{r: *memo.req}, nil
	}
	r, err := s.p.store.OIDCAuthRequest(ctx, id, s.p.now())
	if err != nil {
		return nil, err
	}
	return &authRequest{r: r}, nil
}

// AuthRequestByCode finds a code's request: a code works once (it is claimed with the tokens it
// gives); a second use fails and revokes what the first issued. The user must still be enabled and
// the session the browser signed in with still active.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.p.now()
	r, err := s.p.store.OIDCAuthRequestByCode(ctx, hashToken(code), now)
	if errors.Is(err, models.ErrOIDCCodeReused) {
		s.p.outcome(ctx, r.AppID, r.UserID, "code_reused")
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if r.UserID == nil || !r.Done {
		return nil, errors.New("auth request not completed")
	}
	u, err := s.p.store.OIDCSessionUser(ctx, r.SessionID, *r.UserID)
	if err != nil {
		return nil, err
	}
	return &authRequest{r: r, user: &u}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	h := hashToken(code)
	if memo, _ := ctx.Value(memoKey{}).(*requestMemo); memo != nil && memo.req != nil && memo.req.ID == id &&
		memo.req.CodeHash != nil && *memo.req.CodeHash == h && memo.req.UsedAt == nil {
		return nil // recorded when the request was completed (Provider.Login), checked just before
	}
	return s.p.store.SetOIDCCode(ctx, id, h, s.p.now())
}

// DeleteAuthRequest keeps the request: its used code must stay recognisable (replay detection)
// until the sweep removes it a day after it expired.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// refreshRequest is a refresh token's grant as the library sees it.
type refreshRequest struct {
	t      models.OIDCToken
	user   models.User
	token  string
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return nil }
func (r *refreshRequest) GetAudience() []string       { return []string{r.t.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return Subject(r.t.UserID) }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// grantOf is where a new token comes from: the claimed code or the refresh token being rotated.
func grantOf(req op.TokenRequest) (models.OIDCToken, bool) {
	switch r := req.(type) {
	case *authRequest:
		if r.r.UserID == nil {
			return models.OIDCToken{}, false
		}
		return models.OIDCToken{GrantID: r.r.ID, AppID: r.r.AppID, ClientID: r.r.ClientID, UserID: *r.r.UserID,
			SessionID: r.r.SessionID, Scopes: r.r.Params.Scopes, AuthTime: r.GetAuthTime()}, true
	case *refreshRequest:
		t := r.t
		t.Scopes = r.scopes
		return t, true
	}
	return models.OIDCToken{}, false
}

// newToken is a token row of a grant, with its secret (returned to the library, never stored).
func (s *storage) newToken(grant models.OIDCToken, kind string, ttl time.Duration) (*models.OIDCToken, string) {
	secret := random(32)
	now := s.p.now()
	t := grant
	t.ID, t.Hash, t.Kind, t.CreatedAt, t.ExpiresAt, t.RevokedAt = 0, hashToken(secret), kind, now, now.Add(ttl), nil
	return &t, secret
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	grant, ok := grantOf(req)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	t, secret := s.newToken(grant, models.OIDCAccessToken, s.p.cfg.AccessTokenTTL)
	if err := s.create(ctx, req, t); err != nil {
		return "", time.Time{}, err
	}
	return secret, t.ExpiresAt, nil
}

// create inserts tokens made from a code (claiming the code in the same transaction) or a refresh.
func (s *storage) create(ctx context.Context, req op.TokenRequest, tokens ...*models.OIDCToken) error {
	ar, ok := req.(*authRequest)
	if !ok {
		return s.p.store.CreateOIDCTokens(ctx, tokens...)
	}
	err := s.p.store.ClaimOIDCCode(ctx, ar.r.ID, s.p.now(), tokens...)
	if errors.Is(err, models.ErrOIDCCodeReused) {
		s.p.outcome(ctx, ar.r.AppID, ar.r.UserID, "code_reused")
		return oidc.ErrInvalidGrant().WithDescription("invalid code").WithParent(err)
	}
	return err
}

// CreateAccessAndRefreshTokens issues an access and a refresh token; from a refresh token, that one
// is revoked in the same transaction (rotation), and a parallel second rotation fails.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	grant, ok := grantOf(req)
	if !ok {
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	at, atSecret := s.newToken(grant, models.OIDCAccessToken, s.p.cfg.AccessTokenTTL)
	rt, rtSecret := s.newToken(grant, models.OIDCRefreshToken, s.p.cfg.RefreshTokenTTL)
	var err error
	if current != "" {
		err = s.p.store.RotateOIDCRefresh(ctx, hashToken(current), s.p.now(), at, rt)
		if errors.Is(err, models.ErrNotFound) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token used before")
		}
	} else {
		err = s.create(ctx, req, at, rt)
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return atSecret, rtSecret, at.ExpiresAt, nil
}

// TokenRequestByRefreshToken accepts a live refresh token of a live session and enabled user. A
// rotated (revoked) one presented again means it was copied: its whole grant is revoked.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	now := s.p.now()
	h := hashToken(token)
	t, u, err := s.p.store.ActiveOIDCToken(ctx, h, models.OIDCRefreshToken, now)
	if err != nil {
		if old, e := s.p.store.OIDCTokenByHash(ctx, h); e == nil && old.Kind == models.OIDCRefreshToken && old.RevokedAt != nil {
			if _, e := s.p.store.RevokeOIDCGrant(ctx, old.GrantID, now); e != nil {
				return nil, e
			}
		}
		return nil, err
	}
	return &refreshRequest{t: t, user: u, token: token, scopes: t.Scopes}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest is.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest sends the browser to Gatehouse's sign-out confirmation, which ends the
// browser's Gatehouse session and then goes on to the validated post-logout URI.
func (s *storage) TerminateSessionFromRequest(_ context.Context, req *op.EndSessionRequest) (string, error) {
	return s.p.logoutURL(req.RedirectURI, req.ClientID)
}

func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	now := s.p.now()
	t, err := s.p.store.OIDCTokenByHash(ctx, hashToken(tokenOrID))
	if errors.Is(err, models.ErrNotFound) {
		return nil // RFC 7009: an unknown token is no error
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if t.ClientID != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("token of another client")
	}
	if t.Kind == models.OIDCRefreshToken {
		_, err = s.p.store.RevokeOIDCGrant(ctx, t.GrantID, now)
	} else {
		err = s.p.store.RevokeOIDCToken(ctx, t.Hash, now)
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.p.store.OIDCTokenByHash(ctx, hashToken(token))
	if errors.Is(err, models.ErrNotFound) || (err == nil && t.Kind != models.OIDCRefreshToken) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return Subject(t.UserID), token, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, _, err := s.p.keys.load(ctx)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	_, set, err := s.p.keys.load(ctx)
	return set, err
}

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var u models.User
	switch r := req.(type) {
	case *authRequest:
		if r.user == nil {
			return errors.New("auth request without a checked user")
		}
		u = *r.user
	case *refreshRequest:
		u = r.user
	default:
		return errors.New("unexpected token request")
	}
	return s.p.claims(ctx, info, u, scopes)
}

// SetUserinfoFromToken answers userinfo: the token must be live, its session active, its user enabled.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	t, u, err := s.p.store.ActiveOIDCToken(ctx, hashToken(tokenID), models.OIDCAccessToken, s.p.now())
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return oidc.ErrAccessDenied().WithDescription("token revoked or expired")
		}
		return err
	}
	return s.p.claims(ctx, info, u, t.Scopes)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	t, u, err := s.p.store.ActiveOIDCToken(ctx, hashToken(tokenID), models.OIDCAccessToken, s.p.now())
	if err != nil || t.ClientID != clientID {
		return nil // inactive
	}
	info := new(oidc.UserInfo)
	if err := s.p.claims(ctx, info, u, t.Scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Active, resp.ClientID, resp.Scope = true, t.ClientID, t.Scopes
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile not supported")
}

func (s *storage) Health(ctx context.Context) error { return s.p.store.Ping(ctx) }

// claims fills a user's claims for the granted scopes (DESIGN.md §10).
func (p *Provider) claims(ctx context.Context, info *oidc.UserInfo, u models.User, scopes []string) error {
	info.Subject = Subject(u.ID)
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.Username
		info.Name = u.Nickname
		if info.Name == "" {
			info.Name = u.Username
		}
		info.Picture = u.AvatarURL
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email, info.EmailVerified = u.Email, true // emails come only from admins and WeCom
	}
	if slices.Contains(scopes, oidc.ScopePhone) && u.MobileString() != "" {
		phone := u.MobileString()
		if !strings.HasPrefix(phone, "+") {
			phone = "+" + phone
		}
		info.PhoneNumber, info.PhoneNumberVerified = phone, true
	}
	if slices.Contains(scopes, ScopeGroups) {
		groups, err := p.cfg.Groups(ctx, u)
		if err != nil {
			return err
		}
		if groups == nil {
			groups = []string{}
		}
		info.AppendClaims("groups", groups)
	}
	return nil
}
