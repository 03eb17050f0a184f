package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/web/webtest"
)

// oidcRP is a relying party built from independent client libraries (go-oidc and x/oauth2), registered
// as an app in Gatehouse. Its redirect URI is never fetched: the test reads the code off the redirect.
type oidcRP struct {
	app      *webtest.App
	model    models.App
	secret   string
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	ctx      context.Context
}

// rpSpec describes the app to register.
type rpSpec struct {
	name   string
	public bool
	groups []string // access by these groups (else everyone)
}

const rpRedirect = "http://127.0.0.1:9/cb"
const rpLogout = "http://127.0.0.1:9/bye"

func newRP(t testing.TB, app *webtest.App, spec rpSpec) *oidcRP {
	t.Helper()
	if spec.name == "" {
		spec.name = "grafana"
	}
	m := models.App{Name: spec.name, Title: strings.ToUpper(spec.name[:1]) + spec.name[1:], Type: models.AppTypeOIDC, Enabled: true,
		Access: models.AccessEveryone, ClientID: apps.NewClientID(), Public: spec.public,
		RedirectURIs: []string{rpRedirect}, PostLogoutRedirectURIs: []string{rpLogout}}
	secret := ""
	if !spec.public {
		secret = apps.NewClientSecret()
		m.SecretHash = apps.HashSecret(secret)
	}
	if spec.groups != nil {
		m.Access, m.Groups = models.AccessGroups, spec.groups
	}
	if err := app.Store.CreateApp(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, app.URL()+"/oidc")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &oidcRP{app: app, model: m, secret: secret, provider: provider, ctx: ctx,
		oauth: oauth2.Config{ClientID: m.ClientID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
			Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}},
		verifier: provider.Verifier(&gooidc.Config{ClientID: m.ClientID})}
}

// flow is one authorization request's parameters and what came back.
type flow struct {
	state, nonce, verifier string
	// final is the last response Gatehouse gave (a page) when the browser did not reach the redirect URI.
	final *webtest.Response
	// back is the redirect URI with its query, when the browser reached it.
	back *url.URL
	hops []string
}

func randomString() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// authorize sends the browser to the authorize endpoint with PKCE S256, state and nonce (plus extra
// parameters; scopes replace the default) and follows Gatehouse's redirects until the browser is sent
// to the redirect URI or stops on a page.
func (rp *oidcRP) authorize(t *testing.T, c *webtest.Client, scopes []string, extra ...oauth2.AuthCodeOption) *flow {
	t.Helper()
	f := &flow{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier()}
	cfg := rp.oauth
	if scopes != nil {
		cfg.Scopes = scopes
	}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	rp.follow(t, c, f, cfg.AuthCodeURL(f.state, opts...))
	return f
}

// follow goes from u through Gatehouse's redirects (and the WeCom simulator's) until the redirect URI.
func (rp *oidcRP) follow(t *testing.T, c *webtest.Client, f *flow, u string) {
	t.Helper()
	r := c.Get(u)
	for range 15 {
		if r.StatusCode < 300 || r.StatusCode >= 400 {
			f.final = r
			return
		}
		next, err := r.Request.URL.Parse(r.Location())
		if err != nil {
			t.Fatal(err)
		}
		f.hops = append(f.hops, next.String())
		if strings.HasPrefix(next.String(), rpRedirect) || strings.HasPrefix(next.String(), rpLogout) {
			f.back = next
			return
		}
		r = c.Get(next.String())
	}
	t.Fatalf("too many redirects: %v", f.hops)
}

// code is the code the browser brought back, failing the test unless state matches and there is one.
func (f *flow) code(t *testing.T) string {
	t.Helper()
	if f.back == nil {
		status, outcome, body := 0, "", ""
		if f.final != nil {
			status, outcome, body = f.final.StatusCode, f.final.Outcome(), f.final.Body
		}
		t.Fatalf("browser never reached the redirect URI: ended on %d %q after %v: %.400s", status, outcome, f.hops, body)
	}
	q := f.back.Query()
	if q.Get("state") != f.state {
		t.Fatalf("state %q, want %q", q.Get("state"), f.state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code at the redirect URI: %s", f.back)
	}
	return q.Get("code")
}

// backError is the error the redirect URI received ("" if none), checking there is no code with it.
func (f *flow) backError(t *testing.T) string {
	t.Helper()
	if f.back == nil {
		t.Fatalf("browser never reached the redirect URI: %v", f.hops)
	}
	if f.back.Query().Get("code") != "" {
		t.Fatalf("a code came back with the error: %s", f.back)
	}
	if f.back.Query().Get("state") != f.state {
		t.Fatalf("error without the state: %s", f.back)
	}
	return f.back.Query().Get("error")
}

// exchange trades the code for tokens (client_secret_basic for a confidential client).
func (rp *oidcRP) exchange(t *testing.T, f *flow, code string) (*oauth2.Token, error) {
	t.Helper()
	return rp.oauth.Exchange(rp.ctx, code, oauth2.VerifierOption(f.verifier))
}

// idToken verifies the ID token's signature, issuer, audience and expiry, and its nonce.
func (rp *oidcRP) idToken(t *testing.T, tok *oauth2.Token, nonce string) *gooidc.IDToken {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("no id_token in the token response")
	}
	id, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	if id.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", id.Nonce, nonce)
	}
	return id
}

// userinfo calls the userinfo endpoint with GET (the library) and answers its claims, or the status.
func (rp *oidcRP) userinfo(t *testing.T, tok *oauth2.Token) (map[string]any, int) {
	t.Helper()
	info, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if strings.HasPrefix(err.Error(), "401") {
			return nil, http.StatusUnauthorized
		}
		t.Fatalf("userinfo: %v", err)
	}
	var claims map[string]any
	if err := info.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims, http.StatusOK
}

// refresh uses a refresh token once.
func (rp *oidcRP) refresh(refresh string) (*oauth2.Token, error) {
	return rp.oauth.TokenSource(rp.ctx, &oauth2.Token{RefreshToken: refresh}).Token()
}

// oauthError is the OAuth error code of a failed token request.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// signedInFlow signs the browser in as username and runs a whole flow to tokens.
func (rp *oidcRP) signedInFlow(t *testing.T, c *webtest.Client, scopes []string) (*flow, *oauth2.Token) {
	t.Helper()
	f := rp.authorize(t, c, scopes)
	tok, err := rp.exchange(t, f, f.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return f, tok
}
