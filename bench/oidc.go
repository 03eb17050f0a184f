package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/apps"
	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
)

// Targets of DESIGN.md §8 for the OpenID Connect provider.
const (
	oidcMinRPS   = 500
	oidcRPSConns = 50
	// oidcOrigin is the provider's configured public origin; the load generator sends every request
	// to the server's loopback address instead, as a reverse proxy would.
	oidcOrigin   = "http://gatehouse.bench"
	oidcRedirect = "https://app.bench/callback"
)

// oidcScenario measures whole code flows of distinct signed-in users: authorize with an existing
// session, PKCE S256, scopes openid profile email → the login hand-off → the callback's code → the
// token endpoint with client_secret_basic → userinfo. See README.md.
func oidcScenario(ctx context.Context, o Options) (Result, error) {
	g, err := StartGatehouse(ctx, o, web.Options{}, func(c *web.Config) {
		u, _ := url.Parse(oidcOrigin)
		c.BaseURL = u
	})
	if err != nil {
		return Result{}, fmt.Errorf("start: %w", err)
	}
	defer g.Close()
	fmt.Fprintf(o.Progress, "seeding %d signed-in users on %s\n", o.Members, o.DB)
	t0 := time.Now()
	cookies, err := seedSessions(ctx, g, o.Members)
	if err != nil {
		return Result{}, fmt.Errorf("seed: %w", err)
	}
	secret := apps.NewClientSecret()
	app := models.App{Name: "bench", Title: "Bench", Type: models.AppTypeOIDC, Enabled: true, Access: models.AccessEveryone,
		ClientID: apps.NewClientID(), SecretHash: apps.HashSecret(secret), RedirectURIs: []string{oidcRedirect}}
	if err := g.Store.CreateApp(ctx, &app); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(o.Progress, "seeded in %v\n", time.Since(t0).Round(time.Millisecond))

	var n atomic.Int64
	flow := func(ctx context.Context, c *http.Client) error {
		i := int(n.Add(1)) % len(cookies)
		return oidcFlow(ctx, c, g.URL, app.ClientID, secret, cookies[i])
	}
	// One flow first, outside the measurement: it makes the signing key and proves the flow works.
	if err := flow(ctx, newClient()); err != nil {
		return Result{}, fmt.Errorf("first flow: %w", err)
	}
	targets := []Target{{Name: fmt.Sprintf("oidc-flow@%d", o.Conns), Conns: o.Conns, Op: flow}}
	samples, err := Measure(ctx, o, targets)
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintln(o.Progress, "in-process benchmark of one flow through Server.Handler")
	hb, err := benchOIDCHandler(ctx, g, app.ClientID, secret, cookies)
	if err != nil {
		return Result{}, err
	}
	res := NewResult("oidc", o)
	res.Samples = samples
	res.Summary = Summarize(samples)
	hi := res.Find(targets[0].Name)
	res.Notes = append(res.Notes,
		fmt.Sprintf("one operation = GET /oidc/authorize (PKCE S256, openid profile email) → GET /oidc/login → GET /oidc/authorize/callback → POST /oidc/oauth/token (client_secret_basic) → GET /oidc/userinfo; %d distinct users with a session each, cycled", len(cookies)),
		fmt.Sprintf("allocations per flow, whole process (generator and server, 5 requests): %.0f at %d conns (median)", hi.AllocsReq, hi.Conns),
		fmt.Sprintf("no network (testing.Benchmark of one whole flow through Server.Handler in process, serial, requests built and read included, %d runs): %d allocs/flow, %d B/flow, %v/flow",
			hb.N, hb.AllocsPerOp(), hb.AllocedBytesPerOp(), time.Duration(hb.NsPerOp()).Round(time.Microsecond)),
	)
	if o.DB != "postgres" {
		res.Notes = append(res.Notes, "the target is defined on PostgreSQL; this run used "+o.DB)
	}
	res.AddCheck(fmt.Sprintf("OIDC code flows/s at %d conns", hi.Conns), fmt.Sprintf("≥ %d", oidcMinRPS), fmt.Sprintf("%.0f", hi.RPS), hi.RPS >= oidcMinRPS)
	errs := 0
	for _, s := range res.Summary {
		errs += s.Errors
	}
	res.AddCheck("no failed flows", "0", fmt.Sprint(errs), errs == 0)
	return res, nil
}

// seedSessions creates n users, each signed in once, and returns their session cookies (made with the
// server's keys, as a password sign-in would, without the password hashing).
func seedSessions(ctx context.Context, g *Gatehouse, n int) ([]*http.Cookie, error) {
	key := g.Config.SecretKey
	sessions := auth.NewSessions(g.Store, models.DeriveKey(key, "cookie hash"), models.DeriveKey(key, "cookie block"),
		g.Config.SessionIdle, g.Config.SessionMax, false, func() time.Time { return time.Now().UTC() })
	out := make([]*http.Cookie, 0, n)
	for i := range n {
		u := models.User{Username: fmt.Sprintf("oidc%06d", i), Nickname: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("oidc%06d@bench.test", i)}
		if err := g.Store.CreateUser(ctx, &u); err != nil {
			return nil, err
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, g.URL+"/signin", nil).WithContext(ctx)
		if err := sessions.Issue(rec, req, u.ID, 0, "127.0.0.1", nil); err != nil {
			return nil, err
		}
		cs := rec.Result().Cookies()
		if len(cs) != 1 {
			return nil, fmt.Errorf("session cookies: %v", cs)
		}
		out = append(out, cs[0])
	}
	return out, nil
}

// oidcFlow is one whole code flow of the user whose session cookie is given.
func oidcFlow(ctx context.Context, c *http.Client, base, clientID, secret string, cookie *http.Cookie) error {
	verifier := rand32()
	sum := sha256.Sum256([]byte(verifier))
	state := rand32()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {oidcRedirect}, "response_type": {"code"}, "scope": {"openid profile email"},
		"state": {state}, "nonce": {rand32()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	next := base + "/oidc/authorize?" + q.Encode()
	var code string
	for hop := 0; hop < 3; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		req.AddCookie(cookie)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || loc == "" {
			return fmt.Errorf("hop %d: status %d", hop, resp.StatusCode)
		}
		if strings.HasPrefix(loc, oidcRedirect) {
			u, err := url.Parse(loc)
			if err != nil {
				return err
			}
			if u.Query().Get("state") != state {
				return errors.New("state lost")
			}
			code = u.Query().Get("code")
			break
		}
		// The provider's links use the public origin; send them to the server directly.
		next = base + strings.TrimPrefix(loc, oidcOrigin)
	}
	if code == "" {
		return errors.New("no code")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidcRedirect}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oidc/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" || tok.IDToken == "" {
		return fmt.Errorf("token: status %d %v", resp.StatusCode, err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/oidc/userinfo", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"email"`) {
		return fmt.Errorf("userinfo: status %d", resp.StatusCode)
	}
	return nil
}

func rand32() string { return apps.NewClientSecret() }

// handlerClient sends a worker's requests straight to a handler, in process, as an http.Client would
// send them over a connection: the server side of a flow without the network.
type handlerClient struct{ h http.Handler }

func (hc handlerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	r.RemoteAddr = "127.0.0.1:40000"
	hc.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// benchOIDCHandler runs whole flows through the server's handler in process, serially.
func benchOIDCHandler(ctx context.Context, g *Gatehouse, clientID, secret string, cookies []*http.Cookie) (testing.BenchmarkResult, error) {
	c := &http.Client{Transport: handlerClient{g.Server.Handler()}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var failed atomic.Value
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if err := oidcFlow(ctx, c, g.URL, clientID, secret, cookies[i%len(cookies)]); err != nil {
				failed.Store(err)
				b.SkipNow()
			}
		}
	})
	if err, ok := failed.Load().(error); ok {
		return r, err
	}
	return r, nil
}
