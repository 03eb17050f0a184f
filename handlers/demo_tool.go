package handlers

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"gatehouse/views"
)

// The demo's "internal tool", an OpenID Connect client of Gatehouse itself (demo mode only). Its
// secret is public: the app exists only in a demo database and its redirect URI is the demo's own.
const (
	DemoToolName     = "demo-tool"
	DemoToolClientID = "demo-tool"
	DemoToolSecret   = "demo-tool-secret-public-demo-only"
	DemoToolPath     = "/_demo/tool"
)

const (
	demoToolCookie     = "demo_tool"      // the signed-in person's ID token (verified on every page)
	demoToolFlowCookie = "demo_tool_flow" // state, nonce and PKCE verifier of a sign-in under way
)

// DemoTool is a tiny relying party built from independent libraries (x/oauth2 and go-oidc), as any
// app of the organisation would be, talking to Gatehouse over HTTP at the demo's origin.
type DemoTool struct {
	h      *Handlers
	origin string

	mu       sync.Mutex
	provider *gooidc.Provider // discovered on first use: the server is not listening when this is built
}

// NewDemoTool builds the demo tool for Gatehouse at origin.
func NewDemoTool(h *Handlers, origin string) *DemoTool {
	return &DemoTool{h: h, origin: strings.TrimRight(origin, "/")}
}

func (d *DemoTool) config(c *gin.Context) (*gooidc.Provider, oauth2.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provider == nil {
		p, err := gooidc.NewProvider(c.Request.Context(), d.origin+"/oidc")
		if err != nil {
			return nil, oauth2.Config{}, fmt.Errorf("demo tool: discover Gatehouse: %w", err)
		}
		d.provider = p
	}
	return d.provider, oauth2.Config{ClientID: DemoToolClientID, ClientSecret: DemoToolSecret, Endpoint: d.provider.Endpoint(),
		RedirectURL: d.origin + DemoToolPath + "/callback", Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "phone", "groups"}}, nil
}

func (d *DemoTool) render(c *gin.Context, status int, data views.DemoToolData) {
	d.h.render(c, status, views.DemoTool(d.h.page(c, "oidc.demo_tool_title", ""), data))
}

// Page shows the tool: a "Sign in with WeCom" button, or who Gatehouse said the person is.
func (d *DemoTool) Page(c *gin.Context) {
	raw, err := c.Cookie(demoToolCookie)
	if err != nil || raw == "" {
		d.render(c, http.StatusOK, views.DemoToolData{})
		return
	}
	p, _, err := d.config(c)
	if err != nil {
		d.h.fail(c, err)
		return
	}
	id, err := p.Verifier(&gooidc.Config{ClientID: DemoToolClientID}).Verify(c.Request.Context(), raw)
	if err != nil {
		d.signedOut(c)
		return
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		d.h.fail(c, err)
		return
	}
	var rows [][2]string
	for _, k := range []string{"sub", "preferred_username", "name", "email", "email_verified", "phone_number", "groups", "picture"} {
		if v, ok := claims[k]; ok && claimText(v) != "" {
			rows = append(rows, [2]string{k, claimText(v)})
		}
	}
	logout := d.origin + "/oidc/end_session?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {d.origin + DemoToolPath + "/signedout"}}.Encode()
	d.render(c, http.StatusOK, views.DemoToolData{Claims: rows, Logout: logout})
}

func claimText(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(x)
	}
}

// Login starts the code flow with PKCE, state and nonce.
func (d *DemoTool) Login(c *gin.Context) {
	_, cfg, err := d.config(c)
	if err != nil {
		d.h.fail(c, err)
		return
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	d.cookie(c, demoToolFlowCookie, state+"."+nonce+"."+verifier, 600)
	c.Redirect(http.StatusSeeOther, cfg.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
}

// Callback exchanges the code, verifies the ID token and its nonce, and remembers the person.
func (d *DemoTool) Callback(c *gin.Context) {
	p, cfg, err := d.config(c)
	if err != nil {
		d.h.fail(c, err)
		return
	}
	flow, _ := c.Cookie(demoToolFlowCookie)
	parts := strings.Split(flow, ".")
	d.cookie(c, demoToolFlowCookie, "", -1)
	failed := views.DemoToolData{Error: d.h.T(c).T("oidc.demo_tool_failed")}
	if len(parts) != 3 || c.Query("state") != parts[0] || c.Query("code") == "" {
		d.render(c, http.StatusBadRequest, failed)
		return
	}
	tok, err := cfg.Exchange(c.Request.Context(), c.Query("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		d.render(c, http.StatusBadGateway, failed)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := p.Verifier(&gooidc.Config{ClientID: DemoToolClientID}).Verify(c.Request.Context(), raw)
	if err != nil || id.Nonce != parts[1] {
		d.render(c, http.StatusBadGateway, failed)
		return
	}
	d.cookie(c, demoToolCookie, raw, 3600)
	c.Redirect(http.StatusSeeOther, DemoToolPath)
}

// SignedOut is the post-logout URI: Gatehouse ended its session; the tool forgets the person too.
func (d *DemoTool) SignedOut(c *gin.Context) { d.signedOut(c) }

func (d *DemoTool) signedOut(c *gin.Context) {
	d.cookie(c, demoToolCookie, "", -1)
	c.Redirect(http.StatusSeeOther, DemoToolPath)
}

func (d *DemoTool) cookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: DemoToolPath, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: d.h.https(c)})
}
