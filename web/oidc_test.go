package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/apps"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

// TestOIDCCodeFlow drives the whole code flow with go-oidc and x/oauth2: discovery, PKCE S256, state
// and nonce, the ID token's signature and claims, userinfo by GET and POST, refresh rotation,
// revocation and RP-initiated logout that ends the Gatehouse session.
func TestOIDCCodeFlow(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		ctx := context.Background()
		u := app.CreateUser("zhangsan", "pw-zhangsan-1", false, "13800000001")
		u.Nickname, u.Email, u.AvatarURL = "张三", "zhangsan@acme.test", "https://img.acme.test/z.png"
		if err := app.Store.SaveUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := app.Store.CreateGroup(ctx, &models.Group{Name: "ops", Rules: "user:zhangsan"}); err != nil {
			t.Fatal(err)
		}
		rp := newRP(t, app, rpSpec{})

		// Discovery names every endpoint under the issuer.
		var disc map[string]any
		if err := rp.provider.Claims(&disc); err != nil {
			t.Fatal(err)
		}
		issuer := app.URL() + "/oidc"
		if disc["issuer"] != issuer {
			t.Fatalf("issuer %v, want %s", disc["issuer"], issuer)
		}
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint", "end_session_endpoint"} {
			if v, _ := disc[k].(string); !strings.HasPrefix(v, issuer+"/") {
				t.Errorf("discovery %s = %v, want under the issuer", k, disc[k])
			}
		}
		if !strings.Contains(strings.Join(toStrings(disc["code_challenge_methods_supported"]), " "), "S256") {
			t.Errorf("discovery code_challenge_methods_supported = %v", disc["code_challenge_methods_supported"])
		}

		c := app.Client()
		c.SignIn("zhangsan", "pw-zhangsan-1")
		scopes := []string{"openid", "profile", "email", "phone", "groups", "offline_access"}
		f, tok := rp.signedInFlow(t, c, scopes)
		id := rp.idToken(t, tok, f.nonce)
		if id.Subject != strconv.FormatInt(u.ID, 10) || id.Subject == u.Username {
			t.Errorf("sub %q, want the user's stable id", id.Subject)
		}
		var claims map[string]any
		if err := id.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"preferred_username": "zhangsan", "name": "张三", "picture": "https://img.acme.test/z.png",
			"email": "zhangsan@acme.test", "email_verified": true, "phone_number": "+8613800000001", "phone_number_verified": true}
		for k, v := range want {
			if claims[k] != v {
				t.Errorf("ID token %s = %v, want %v", k, claims[k], v)
			}
		}
		if g := toStrings(claims["groups"]); len(g) != 1 || g[0] != "ops" {
			t.Errorf("ID token groups = %v, want [ops]", claims["groups"])
		}

		// Userinfo by GET (go-oidc) and by POST (form body).
		info, status := rp.userinfo(t, tok)
		if status != http.StatusOK || info["sub"] != id.Subject || info["email"] != "zhangsan@acme.test" || info["preferred_username"] != "zhangsan" {
			t.Errorf("userinfo GET: %d %v", status, info)
		}
		if g := toStrings(info["groups"]); len(g) != 1 || g[0] != "ops" {
			t.Errorf("userinfo groups = %v", info["groups"])
		}
		resp, err := http.PostForm(issuer+"/userinfo", url.Values{"access_token": {tok.AccessToken}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"preferred_username":"zhangsan"`) {
			t.Errorf("userinfo POST: %d %s", resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("userinfo Cache-Control %q, want no-store", cc)
		}

		// Refresh rotates: a new refresh token, the old one refused (and its grant revoked).
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access for a confidential client")
		}
		tok2, err := rp.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		rp.idToken(t, tok2, "")
		if _, err := rp.refresh(tok.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("old refresh token again: %v, want invalid_grant", err)
		}
		if _, err := rp.refresh(tok2.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("a replayed refresh token must revoke its grant; the new one answered %v", err)
		}

		// Revocation: a fresh flow's access token stops working at once.
		_, tok3 := rp.signedInFlow(t, c, nil)
		if _, status := rp.userinfo(t, tok3); status != http.StatusOK {
			t.Fatalf("userinfo before revocation: %d", status)
		}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/revoke", strings.NewReader(url.Values{"token": {tok3.AccessToken}, "token_type_hint": {"access_token"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(rp.model.ClientID), url.QueryEscape(rp.secret))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if _, status := rp.userinfo(t, tok3); status != http.StatusUnauthorized {
			t.Errorf("userinfo after revocation: %d, want 401", status)
		}

		// RP-initiated logout: id_token_hint, a registered post-logout URI and state; a confirmation,
		// then the Gatehouse session is gone and the browser is back at the app with its state.
		_, tok4 := rp.signedInFlow(t, c, nil)
		raw := tok4.Extra("id_token").(string)
		end := disc["end_session_endpoint"].(string) + "?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye-state"}}.Encode()
		r := c.Get(end)
		if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Location(), issuer+"/logout?t=") {
			t.Fatalf("end_session: %d %q", r.StatusCode, r.Location())
		}
		page := c.Get(r.Location())
		if page.StatusCode != http.StatusOK || page.Find("[data-testid=oidc-logout-confirm]").Length() != 1 || !strings.Contains(page.Body, "Grafana") {
			t.Fatalf("logout confirmation: %d %.300s", page.StatusCode, page.Body)
		}
		ticket, _ := page.Find("input[name=t]").Attr("value")
		done := c.Post("/oidc/logout", url.Values{"t": {ticket}})
		if done.StatusCode != http.StatusSeeOther || done.Location() != rpLogout+"?state=bye-state" {
			t.Fatalf("logout: %d %q", done.StatusCode, done.Location())
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/signin") {
			t.Errorf("Gatehouse session survived the app's logout: %d %q", r.StatusCode, r.Location())
		}
		if _, status := rp.userinfo(t, tok4); status != http.StatusUnauthorized {
			t.Errorf("token of the ended session: userinfo %d, want 401", status)
		}
		// An unknown client gets the error page, not a server error.
		if r := c.Get(disc["end_session_endpoint"].(string) + "?client_id=nobody&post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F"); r.StatusCode != http.StatusBadRequest || r.Location() != "" {
			t.Errorf("end_session of an unknown client: %d %q", r.StatusCode, r.Location())
		}
		// Without a client, a post-logout URI is never followed.
		if r := c.Get(disc["end_session_endpoint"].(string) + "?post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F"); strings.Contains(r.Location(), "evil") {
			t.Errorf("end_session followed an unvalidated URI: %q", r.Location())
		}
		// An unregistered post-logout URI is refused.
		bad := disc["end_session_endpoint"].(string) + "?" + url.Values{"client_id": {rp.model.ClientID}, "post_logout_redirect_uri": {"https://evil.test/"}}.Encode()
		if r := c.Get(bad); r.StatusCode != http.StatusBadRequest || strings.Contains(r.Location(), "evil") {
			t.Errorf("unregistered post-logout URI: %d %q", r.StatusCode, r.Location())
		}
	})
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestOIDCClaimsWithoutEmailOrPhone: a member without an email or mobile gets no such claims (never an
// empty one), and without the profile scope no profile claims.
func TestOIDCClaimsWithoutEmailOrPhone(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("lisi", "pw-lisi-12345", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		c.SignIn("lisi", "pw-lisi-12345")
		f, tok := rp.signedInFlow(t, c, []string{"openid", "email", "phone"})
		var claims map[string]any
		if err := rp.idToken(t, tok, f.nonce).Claims(&claims); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"email", "email_verified", "phone_number", "preferred_username", "name"} {
			if _, ok := claims[k]; ok {
				t.Errorf("claim %s present: %v", k, claims[k])
			}
		}
		if tok.RefreshToken != "" {
			t.Error("refresh token without offline_access")
		}
	})
}

// TestOIDCPublicClient: a public client signs in with PKCE alone and gets no refresh token.
func TestOIDCPublicClient(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("wangwu", "pw-wangwu-123", false, "")
		rp := newRP(t, app, rpSpec{public: true})
		c := app.Client()
		c.SignIn("wangwu", "pw-wangwu-123")
		f, tok := rp.signedInFlow(t, c, []string{"openid", "profile", "offline_access"})
		rp.idToken(t, tok, f.nonce)
		if tok.RefreshToken != "" {
			t.Error("a public client got a refresh token")
		}
		// The verifier is the public client's proof: a wrong one fails.
		f2 := rp.authorize(t, c, nil)
		f2.verifier = oauth2.GenerateVerifier()
		if _, err := rp.exchange(t, f2, f2.code(t)); oauthError(err) != "invalid_grant" {
			t.Errorf("wrong PKCE verifier: %v, want invalid_grant", err)
		}
	})
}

// TestOIDCSignInFirst: without a session the browser goes to /signin and, after signing in, comes
// back to finish by itself; login_hint fills the username; an audit event and a metric record the grant.
func TestOIDCSignInFirst(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("zhaoliu", "pw-zhaoliu-12", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		f := rp.authorize(t, c, nil, oauth2.SetAuthURLParam("login_hint", "zhaoliu"), oauth2.SetAuthURLParam("approval_prompt", "force"))
		if f.final == nil || f.final.Request.URL.Path != "/signin" {
			t.Fatalf("not sent to sign in: %v", f.hops)
		}
		if v, _ := f.final.Find("input[name=username]").Attr("value"); v != "zhaoliu" {
			t.Errorf("login_hint not in the username field: %q", v)
		}
		redirect, _ := f.final.Find("input[name=redirect]").Attr("value")
		if !strings.HasPrefix(redirect, "/oidc/login?id=") {
			t.Fatalf("sign-in form does not come back to the hand-off: %q", redirect)
		}
		// Browsers hold a form's whole redirect chain to form-action: the app's origin joins 'self'.
		if csp := f.final.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9;") {
			t.Errorf("sign-in page CSP does not let the form end at the app: %q", csp)
		}
		for _, other := range []string{"/account", "/oidc/login?id=forged", "/oidc/login?id=" + strings.TrimPrefix(redirect, "/oidc/login?id=") + "x"} {
			r := c.Get("/signin?redirect=" + url.QueryEscape(other))
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") {
				t.Errorf("CSP widened for redirect %q: %q", other, csp)
			}
		}
		r := c.Post("/signin", url.Values{"username": {"zhaoliu"}, "password": {"pw-zhaoliu-12"}, "redirect": {redirect}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d", r.StatusCode)
		}
		rp.follow(t, c, f, r.Location())
		tok, err := rp.exchange(t, f, f.code(t))
		if err != nil {
			t.Fatal(err)
		}
		rp.idToken(t, tok, f.nonce)
		var n int64
		app.Store.DB().Model(&models.AuditEvent{}).Where("action = ? AND target = ? AND outcome = ?", "app.signin", "grafana", "ok").Count(&n)
		if n != 1 {
			t.Errorf("%d app.signin ok audit events, want 1", n)
		}
	}, webtest.WithMetrics())
}

// TestOIDCPromptAndMaxAge: prompt=none answers login_required without a session and a code with one;
// prompt=login and an exceeded max_age ask for a new sign-in although the browser is signed in.
func TestOIDCPromptAndMaxAge(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("sunqi", "pw-sunqi-1234", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		none := oauth2.SetAuthURLParam("prompt", "none")
		if e := rp.authorize(t, c, nil, none).backError(t); e != "login_required" {
			t.Errorf("prompt=none without a session: error %q, want login_required", e)
		}
		c.SignIn("sunqi", "pw-sunqi-1234")
		rp.authorize(t, c, nil, none).code(t)
		rp.authorize(t, c, nil, oauth2.SetAuthURLParam("max_age", "3600")).code(t)

		for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
			f := rp.authorize(t, c, nil, opt)
			if f.final == nil || f.final.Request.URL.Path != "/signin" || f.final.Find("input[name=password]").Length() != 1 {
				t.Fatalf("a new sign-in was not asked for: %v", f.hops)
			}
			redirect, _ := f.final.Find("input[name=redirect]").Attr("value")
			r := c.Post("/signin", url.Values{"username": {"sunqi"}, "password": {"pw-sunqi-1234"}, "redirect": {redirect}})
			rp.follow(t, c, f, r.Location())
			if _, err := rp.exchange(t, f, f.code(t)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestOIDCAppDenied: a signed-in user outside the app's groups gets the app_denied page (403) naming
// the app and no code; with prompt=none, access_denied at the redirect URI. Both are audited.
func TestOIDCAppDenied(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("dev1", "pw-dev1-12345", false, "")
		rp := newRP(t, app, rpSpec{name: "argocd", groups: []string{"ops"}})
		c := app.Client()
		c.SignIn("dev1", "pw-dev1-12345")
		f := rp.authorize(t, c, nil)
		if f.back != nil || f.final.StatusCode != http.StatusForbidden || f.final.Outcome() != "app_denied" || !strings.Contains(f.final.Body, "Argocd") {
			t.Fatalf("denied user: back=%v %d %q", f.back, f.final.StatusCode, f.final.Outcome())
		}
		if e := rp.authorize(t, c, nil, oauth2.SetAuthURLParam("prompt", "none")).backError(t); e != "access_denied" {
			t.Errorf("prompt=none, denied: %q", e)
		}
		var n int64
		app.Store.DB().Model(&models.AuditEvent{}).Where("action = ? AND target = ? AND outcome = ?", "app.signin", "argocd", "app_denied").Count(&n)
		if n != 2 {
			t.Errorf("%d app_denied audit events, want 2", n)
		}
		req, _ := http.NewRequest(http.MethodGet, app.URL()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+webtest.MetricsToken)
		m := app.Client().Do(req)
		if !strings.Contains(m.Body, `gatehouse_oidc_signins_total{app="argocd",outcome="app_denied"} 2`) {
			t.Errorf("metrics miss the refusals: %d", m.StatusCode)
		}
		// In the group now: let through.
		if err := app.Store.CreateGroup(context.Background(), &models.Group{Name: "ops", Rules: "user:dev1"}); err != nil {
			t.Fatal(err)
		}
		rp.authorize(t, c, nil).code(t)
	}, webtest.WithMetrics())
}

// TestSecurityOIDCAuthorizeRefusals: no redirect is ever made to an unregistered place. An unknown or
// disabled client and an unregistered redirect URI get a translated 400 page; a public client without
// PKCE, and plain PKCE, are refused at the redirect URI with no code.
func TestSecurityOIDCAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		ctx := context.Background()
		app.CreateUser("u1", "pw-u1-1234567", false, "")
		rp := newRP(t, app, rpSpec{})
		pub := newRP(t, app, rpSpec{name: "spa", public: true})
		off := newRP(t, app, rpSpec{name: "old"})
		off.model.Enabled = false
		if err := app.Store.SaveApp(ctx, &off.model); err != nil {
			t.Fatal(err)
		}
		c := app.Client()
		c.SignIn("u1", "pw-u1-1234567")
		base := func(clientID, redirect string) url.Values {
			return url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s1"}}
		}
		page := []struct {
			name string
			q    url.Values
			text string
		}{
			{"unknown client", base("nobody", rpRedirect), "not known"},
			{"disabled client", base(off.model.ClientID, rpRedirect), "not known"},
			{"unregistered redirect URI", base(rp.model.ClientID, "https://evil.test/cb"), "not registered"},
			{"redirect URI differing by a slash", base(rp.model.ClientID, rpRedirect+"/"), "not registered"},
			{"redirect URI with extra query", base(rp.model.ClientID, rpRedirect+"?x=1"), "not registered"},
			{"no redirect URI", base(rp.model.ClientID, ""), "not registered"},
		}
		for _, tc := range page {
			r := c.Get("/oidc/authorize?" + tc.q.Encode())
			if r.StatusCode != http.StatusBadRequest || r.Location() != "" || !strings.Contains(r.Body, tc.text) {
				t.Errorf("%s: %d %q %.200s", tc.name, r.StatusCode, r.Location(), r.Body)
			}
		}
		zh := app.Client()
		zh.Language = "zh-CN"
		if r := zh.Get("/oidc/authorize?" + base("nobody", rpRedirect).Encode()); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, "不认识") {
			t.Errorf("the error page is not translated: %.200s", r.Body)
		}

		redirect := []struct {
			name string
			rp   *oidcRP
			q    url.Values
		}{
			{"public client without PKCE", pub, base(pub.model.ClientID, rpRedirect)},
			{"plain PKCE", rp, func() url.Values {
				q := base(rp.model.ClientID, rpRedirect)
				q.Set("code_challenge", "abcdefghijabcdefghijabcdefghijabcdefghij123")
				q.Set("code_challenge_method", "plain")
				return q
			}()},
		}
		for _, tc := range redirect {
			r := c.Get("/oidc/authorize?" + tc.q.Encode())
			loc, _ := url.Parse(r.Location())
			if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Location(), rpRedirect) || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" || loc.Query().Get("state") != "s1" {
				t.Errorf("%s: %d %q", tc.name, r.StatusCode, r.Location())
			}
		}
	})
}

// TestSecurityOIDCTokenRefusals: a code works once (the second use fails and revokes what the first
// issued), a wrong secret or another client's code fails, and client_secret_post works like basic.
func TestSecurityOIDCTokenRefusals(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("u2", "pw-u2-1234567", false, "")
		rp := newRP(t, app, rpSpec{})
		other := newRP(t, app, rpSpec{name: "gitea"})
		c := app.Client()
		c.SignIn("u2", "pw-u2-1234567")

		f := rp.authorize(t, c, []string{"openid", "profile", "offline_access"})
		code := f.code(t)
		tok, err := rp.exchange(t, f, code)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.exchange(t, f, code); oauthError(err) != "invalid_grant" {
			t.Errorf("code reuse: %v, want invalid_grant", err)
		}
		if _, status := rp.userinfo(t, tok); status != http.StatusUnauthorized {
			t.Errorf("access token of a replayed code: userinfo %d, want 401", status)
		}
		if _, err := rp.refresh(tok.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("refresh token of a replayed code: %v, want invalid_grant", err)
		}
		var n int64
		app.Store.DB().Model(&models.AuditEvent{}).Where("action = ? AND outcome = ?", "app.signin", "code_reused").Count(&n)
		if n != 1 {
			t.Errorf("%d code_reused audit events, want 1", n)
		}

		// A wrong secret (basic and post).
		f2 := rp.authorize(t, c, nil)
		wrong := rp.oauth
		wrong.ClientSecret = "not-the-secret"
		if _, err := wrong.Exchange(rp.ctx, f2.code(t), oauth2.VerifierOption(f2.verifier)); oauthError(err) != "invalid_client" {
			t.Errorf("wrong secret: %v, want invalid_client", err)
		}
		// Another client presenting this client's code.
		f3 := rp.authorize(t, c, nil)
		if _, err := other.oauth.Exchange(rp.ctx, f3.code(t), oauth2.VerifierOption(f3.verifier)); oauthError(err) != "invalid_grant" {
			t.Errorf("another client's code: %v, want invalid_grant", err)
		}
		// client_secret_post.
		f4 := rp.authorize(t, c, nil)
		post := rp.oauth
		post.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		tok4, err := post.Exchange(rp.ctx, f4.code(t), oauth2.VerifierOption(f4.verifier))
		if err != nil {
			t.Fatalf("client_secret_post: %v", err)
		}
		rp.idToken(t, tok4, f4.nonce)
		// No verifier although the request had a challenge.
		f5 := rp.authorize(t, c, nil)
		if _, err := rp.oauth.Exchange(rp.ctx, f5.code(t)); oauthError(err) != "invalid_request" {
			t.Errorf("missing PKCE verifier: %v, want invalid_request", err)
		}
	})
}

// TestSecurityOIDCCallbackOtherBrowser: the callback hands the code only to the browser whose session
// completed the request; another browser (or none) presenting the request's id gets an error page.
func TestSecurityOIDCCallbackOtherBrowser(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("victim", "pw-victim-123", false, "")
		app.CreateUser("mallory", "pw-mallory-12", false, "")
		rp := newRP(t, app, rpSpec{})
		victim := app.Client()
		victim.SignIn("victim", "pw-victim-123")
		f := &flow{state: "s", nonce: "n", verifier: oauth2.GenerateVerifier()}
		r := victim.Get(rp.oauth.AuthCodeURL(f.state, gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)))
		login := victim.Get(r.Location())
		callback := login.Location()
		if !strings.Contains(callback, "/oidc/authorize/callback?id=") {
			t.Fatalf("no callback: %d %q", login.StatusCode, callback)
		}
		mallory := app.Client()
		mallory.SignIn("mallory", "pw-mallory-12")
		for _, c := range []*webtest.Client{mallory, app.Client()} {
			if r := c.Get(callback); r.StatusCode != http.StatusBadRequest || strings.Contains(r.Location(), "code=") {
				t.Errorf("another browser got %d %q", r.StatusCode, r.Location())
			}
		}
		rp.follow(t, victim, f, callback)
		f.code(t)
	})
}

// TestSecurityOIDCTokensDieWithAccess: disabling the user, deleting them, "sign out everywhere" and
// a leaver's cut-off (all sessions revoked) make userinfo 401 and refresh invalid_grant at once.
func TestSecurityOIDCTokensDieWithAccess(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cut  func(t *testing.T, app *webtest.App, u models.User)
	}{
		{"user disabled", func(t *testing.T, app *webtest.App, u models.User) {
			u.Disabled = true
			if err := app.Store.SaveUser(context.Background(), &u); err != nil {
				t.Fatal(err)
			}
		}},
		{"sign out everywhere", func(t *testing.T, app *webtest.App, u models.User) {
			if _, err := app.Store.RevokeUserSessions(context.Background(), u.ID, "", time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}},
		{"user deleted", func(t *testing.T, app *webtest.App, u models.User) {
			if err := app.Store.DB().Exec("DELETE FROM sessions WHERE user_id = ?", u.ID).Error; err != nil {
				t.Fatal(err)
			}
			if err := app.Store.DB().Delete(&models.User{}, u.ID).Error; err != nil {
				t.Fatal(err)
			}
		}},
	}
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		rp := newRP(t, app, rpSpec{})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				name := "leaver" + strconv.Itoa(i)
				u := app.CreateUser(name, "pw-leaver-1234", false, "")
				c := app.Client()
				c.SignIn(name, "pw-leaver-1234")
				_, tok := rp.signedInFlow(t, c, []string{"openid", "profile", "offline_access"})
				if _, status := rp.userinfo(t, tok); status != http.StatusOK {
					t.Fatalf("userinfo before: %d", status)
				}
				tc.cut(t, app, u)
				if _, status := rp.userinfo(t, tok); status != http.StatusUnauthorized {
					t.Errorf("userinfo after: %d, want 401", status)
				}
				if _, err := rp.refresh(tok.RefreshToken); oauthError(err) != "invalid_grant" {
					t.Errorf("refresh after: %v, want invalid_grant", err)
				}
			})
		}
	})
}

// TestOIDCOffWithoutBaseURL: without GATEHOUSE_BASE_URL there is no stable issuer, so no provider.
func TestOIDCOffWithoutBaseURL(t *testing.T) {
	t.Parallel()
	app := webtest.New(t, "sqlite", func(c *web.Config, _ *web.Options) { c.BaseURL = nil })
	for _, p := range []string{"/oidc/.well-known/openid-configuration", "/oidc/authorize", "/oidc/keys"} {
		if r := app.Client().Get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
}

// TestOIDCKeyRotation: `gatehouse oidc rotate-keys` makes a new signing key; the key set keeps the
// previous one, so ID tokens signed before still verify, and new ones use the new key.
func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	skew := time.Duration(0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().UTC().Add(skew)
	}
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("k1", "pw-k1-1234567", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		c.SignIn("k1", "pw-k1-1234567")
		_, before := rp.signedInFlow(t, c, nil)
		sealer, err := models.NewSealer(app.Config.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := apps.RotateSigningKey(context.Background(), app.Store, sealer); err != nil {
			t.Fatal(err)
		}
		var rows []models.OIDCKey
		app.Store.DB().Find(&rows)
		if len(rows) != 2 {
			t.Fatalf("%d keys after a rotation, want 2", len(rows))
		}
		// The instance reads the keys again after its cache time.
		mu.Lock()
		skew += time.Minute
		mu.Unlock()
		fresh := newRPFor(t, app, rp)
		if _, err := fresh.verifier.Verify(rp.ctx, before.Extra("id_token").(string)); err != nil {
			t.Errorf("an ID token signed before the rotation no longer verifies: %v", err)
		}
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		resp, err := http.Get(app.URL() + "/oidc/keys")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if len(set.Keys) != 2 {
			t.Errorf("key set has %d keys, want the current and the previous", len(set.Keys))
		}
		f, after := rp.signedInFlow(t, c, nil)
		id := fresh.idToken(t, after, f.nonce)
		_ = id
		var current models.OIDCKey
		app.Store.DB().Where("active").First(&current)
		if kid := jwtKid(t, after.Extra("id_token").(string)); kid != current.ID {
			t.Errorf("new ID token signed with %q, want the new key %q", kid, current.ID)
		}
	}, webtest.WithClock(clock))
}

// jwtKid reads the kid of a JWT's header.
func jwtKid(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(b, &h)
	return h.Kid
}

// newRPFor is another relying party for the same app (a fresh key set cache).
func newRPFor(t *testing.T, app *webtest.App, rp *oidcRP) *oidcRP {
	t.Helper()
	provider, err := gooidc.NewProvider(context.Background(), app.URL()+"/oidc")
	if err != nil {
		t.Fatal(err)
	}
	out := *rp
	out.provider, out.verifier = provider, provider.Verifier(&gooidc.Config{ClientID: rp.model.ClientID})
	return &out
}

// oidcProtocolPost tells whether a POST route is an OpenID Connect protocol endpoint that apps' servers
// (or single-page apps on other origins) call: exempt from the cross-origin check, which is for
// browser forms; they act only on the credentials they carry, never on the Gatehouse cookie
// (TestSecurityOIDCProtocolPostsIgnoreCookie).
func oidcProtocolPost(path string) bool {
	switch path {
	case "/oidc/oauth/token", "/oidc/revoke", "/oidc/userinfo", "/oidc/oauth/introspect", "/oidc/authorize":
		return true
	}
	return false
}

// TestSecurityOIDCProtocolPostsIgnoreCookie: the protocol endpoints exempt from the cross-origin check
// accept calls from other origins (apps' servers send no Sec-Fetch-Site; SPAs send their origin), and
// a signed-in admin's cookie sent along cross-site grants nothing: no token, no userinfo.
func TestSecurityOIDCProtocolPostsIgnoreCookie(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("boss", "pw-boss-123456", true, "")
		c := app.Client()
		c.SignIn("boss", "pw-boss-123456")
		for _, p := range []string{"/oidc/oauth/token", "/oidc/userinfo", "/oidc/revoke", "/oidc/oauth/introspect"} {
			req, _ := http.NewRequest(http.MethodPost, app.URL()+p, strings.NewReader("grant_type=authorization_code&code=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Origin", "https://evil.example")
			r := c.Do(req)
			if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s cross-site with the admin's cookie: %d %.200s, want 400 or 401", p, r.StatusCode, r.Body)
			}
			if strings.Contains(r.Body, `"access_token":`) || strings.Contains(r.Body, "boss") {
				t.Errorf("%s granted something to a cross-site caller: %.200s", p, r.Body)
			}
		}
	})
}

// TestSecurityOIDCParallelCodeExchange: the same code sent ten times at once yields tokens once, and
// those tokens are then revoked (the other nine were replays).
func TestSecurityOIDCParallelCodeExchange(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("p1", "pw-p1-1234567", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		c.SignIn("p1", "pw-p1-1234567")
		f := rp.authorize(t, c, nil)
		code := f.code(t)
		var mu sync.Mutex
		var wins []*oauth2.Token
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tok, err := rp.oauth.Exchange(rp.ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
					mu.Lock()
					wins = append(wins, tok)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d of 10 parallel exchanges of one code succeeded, want 1", len(wins))
		}
		if _, status := rp.userinfo(t, wins[0]); status != http.StatusUnauthorized {
			t.Errorf("the winner's token survived the replays: userinfo %d", status)
		}
	})
}

// TestSecurityOIDCDisabledApp: disabling an app ends its tokens at once and refuses new sign-ins.
func TestSecurityOIDCDisabledApp(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		app.CreateUser("d1", "pw-d1-1234567", false, "")
		rp := newRP(t, app, rpSpec{})
		c := app.Client()
		c.SignIn("d1", "pw-d1-1234567")
		_, tok := rp.signedInFlow(t, c, []string{"openid", "offline_access"})
		rp.model.Enabled = false
		if err := app.Store.SaveApp(context.Background(), &rp.model); err != nil {
			t.Fatal(err)
		}
		if _, status := rp.userinfo(t, tok); status != http.StatusUnauthorized {
			t.Errorf("userinfo with a disabled app's token: %d, want 401", status)
		}
		if _, err := rp.refresh(tok.RefreshToken); err == nil {
			t.Error("a disabled app refreshed its token")
		}
		if f := rp.authorize(t, c, nil); f.back != nil || f.final.StatusCode != http.StatusBadRequest {
			t.Errorf("a disabled app's authorize: back=%v", f.back)
		}
	})
}

// TestOIDCTwoInstances: a flow begun on one instance ends on another (same database and secret key):
// the code, the signing keys and the tokens live in the database.
func TestOIDCTwoInstances(t *testing.T) {
	t.Parallel()
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			a := webtest.New(t, dialect)
			b := webtest.NewOnStore(t, a.Store, func(c *web.Config, _ *web.Options) { c.BaseURL = a.Config.BaseURL })
			a.CreateUser("two", "pw-two-1234567", false, "")
			rp := newRP(t, a, rpSpec{})
			c := a.Client()
			c.SignIn("two", "pw-two-1234567")
			f := rp.authorize(t, c, []string{"openid", "profile", "offline_access"})
			onB := rp.oauth
			onB.Endpoint.TokenURL = b.URL() + "/oidc/oauth/token"
			tok, err := onB.Exchange(rp.ctx, f.code(t), oauth2.VerifierOption(f.verifier))
			if err != nil {
				t.Fatalf("exchange on the other instance: %v", err)
			}
			rp.idToken(t, tok, f.nonce) // keys fetched from instance a
			req, _ := http.NewRequest(http.MethodGet, b.URL()+"/oidc/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("userinfo on the other instance: %d", resp.StatusCode)
			}
			if _, err := rp.refresh(tok.RefreshToken); err != nil {
				t.Errorf("refresh on the first instance of a token made on the other: %v", err)
			}
		})
	}
}
