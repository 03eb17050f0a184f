package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/apps"
	"gatehouse/models"
)

// Targets of DESIGN.md §8 for forward-auth.
const (
	forwardMinRatio  = 1.0
	forwardMaxRevoke = time.Second
	oauth2ProxyMod   = "github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6"
	forwardAppHost   = "app.bench.test"
)

// forwardScenario measures GET /auth/proxy/forward with a valid session against oauth2-proxy
// v7.15.6's /oauth2/auth with a valid cookie (its default cookie session store and request log,
// --set-xauthrequest), with the same load generator in the same run, and then the time from a
// sign-out on one instance to the refusal on a second instance of the same database.
func forwardScenario(ctx context.Context, o Options) (Result, error) {
	// Gatehouse runs as its own process, built from this checkout, as oauth2-proxy does: neither
	// shares the load generator's Go runtime (scheduler, GC), so the comparison is like for like.
	gh, err := startGatehouseProcesses(ctx, o, 2)
	if err != nil {
		return Result{}, fmt.Errorf("start gatehouse: %w", err)
	}
	defer gh.stop()
	a, b := gh.urls[0], gh.urls[1]
	cookie, err := passwordSession(ctx, a)
	if err != nil {
		return Result{}, err
	}
	check := forwardCheck(a, cookie)
	if err := check(ctx, newClient()); err != nil {
		return Result{}, fmt.Errorf("gatehouse check: %w", err)
	}

	o2p, err := startOAuth2Proxy(ctx, o)
	if err != nil {
		return Result{}, fmt.Errorf("oauth2-proxy: %w", err)
	}
	defer o2p.stop()

	samples, err := Measure(ctx, o, []Target{
		{Name: "oauth2-proxy", Op: getStatus(o2p.url+"/oauth2/auth", http.StatusAccepted, o2p.cookie)},
		{Name: "gatehouse", Op: check},
	})
	if err != nil {
		return Result{}, err
	}
	res := NewResult("forward", o)
	res.Samples = samples
	res.Summary = Summarize(samples)
	base, ghs := res.Find("oauth2-proxy"), res.Find("gatehouse")
	ra := res.RPSRatio("gatehouse", "oauth2-proxy")
	res.Ratios = append(res.Ratios, ra)

	revoke, err := revocationDelay(ctx, a, b)
	if err != nil {
		return Result{}, err
	}
	res.Notes = append(res.Notes,
		"gatehouse: GET /auth/proxy/forward with X-Forwarded-* and a valid session cookie → 200 with Remote-User, -Name, -Email, -Groups; its own process (go build of this checkout), request log on, database "+o.DB,
		"oauth2-proxy "+oauth2ProxyMod+": GET /oauth2/auth with a valid cookie → 202 (cookie session store, request logging on, --set-xauthrequest)",
		"both servers' logs go to a discarded pipe; cpu/req and allocs/req count only the load generator's process",
		fmt.Sprintf("revocation: sign-out on instance A, first refused check on instance B after %s", us(revoke)))
	res.AddCheck("forward-auth checks/s vs oauth2-proxy", fmt.Sprintf("median per-round ratio ≥ %.2f", forwardMinRatio), fmt.Sprintf("%.2f", ra.PerRoundMedian), ra.PerRoundMedian >= forwardMinRatio)
	res.AddCheck(fmt.Sprintf("forward-auth p99 at %d conns", o.Conns), "≤ oauth2-proxy's "+ms(base.P99), ms(ghs.P99), ghs.P99 <= base.P99)
	res.AddCheck("revoked session refused on another instance", "≤ "+ms(forwardMaxRevoke), ms(revoke), revoke <= forwardMaxRevoke)
	res.AddCheck("no failed requests", "0", fmt.Sprint(base.Errors+ghs.Errors), base.Errors+ghs.Errors == 0)
	return res, nil
}

// gatehouseProcesses are Gatehouse instances on one fresh database, each its own process.
type gatehouseProcesses struct {
	urls []string
	stop func()
}

// startGatehouseProcesses builds this checkout's binary, prepares a fresh database (the bench admin
// and a proxy app for forwardAppHost) and starts n instances on it.
func startGatehouseProcesses(ctx context.Context, o Options, n int) (_ *gatehouseProcesses, err error) {
	var cleanup []func()
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	dir, err := os.MkdirTemp("", "gatehouse-bench-forward-")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "gatehouse")
	fmt.Fprintln(o.Progress, "building gatehouse…")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	env := append(os.Environ(), "GATEHOUSE_SECRET_KEY="+rand.Text()+rand.Text(), "GATEHOUSE_BASE_URL=http://gate.bench.test",
		"GATEHOUSE_DATA_DIR="+filepath.Join(dir, "data"), "GATEHOUSE_ADMIN_PASSWORD="+benchPassword, "GATEHOUSE_DEMO=0")
	opts := models.Options{DataDir: filepath.Join(dir, "data")}
	if o.DB == "postgres" {
		dsn, drop, err := freshSchema(o.DatabaseURL)
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, drop)
		opts = models.Options{DatabaseURL: dsn}
		env = append(env, "DATABASE_URL="+dsn)
	}
	store, err := models.Open(opts)
	if err != nil {
		return nil, err
	}
	err = migrate(ctx, store)
	if err == nil {
		err = store.CreateApp(ctx, &models.App{Name: "bench", Title: "Bench", Type: models.AppTypeProxy, Enabled: true,
			Access: models.AccessEveryone, Domains: []string{forwardAppHost}, ClientID: apps.NewClientID()})
	}
	store.Close()
	if err != nil {
		return nil, err
	}
	g := &gatehouseProcesses{stop: stop}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.CommandContext(ctx, bin, "serve")
		cmd.Env = append(env, "GATEHOUSE_ADDR="+addr)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
		u := "http://" + addr
		if err := waitHealthy(u + "/healthz"); err != nil {
			return nil, err
		}
		g.urls = append(g.urls, u)
	}
	return g, nil
}

func waitHealthy(u string) error {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not answer", u)
}

// forwardCheck is the Op of one forward-auth check, as Caddy sends it, that must answer 200.
func forwardCheck(base, cookie string) Op {
	return func(ctx context.Context, c *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/auth/proxy/forward", nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", forwardAppHost)
		req.Header.Set("X-Forwarded-Uri", "/dashboards/1?from=now-1h")
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("Cookie", cookie)
		return doStatus(c, req, http.StatusOK)
	}
}

// getStatus is the Op of a GET with a cookie that must answer want.
func getStatus(u string, want int, cookie string) Op {
	return func(ctx context.Context, c *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Cookie", cookie)
		return doStatus(c, req, want)
	}
}

// passwordSession signs the bench admin in and returns "gatehouse_session=…".
func passwordSession(ctx context.Context, base string) (string, error) {
	form := url.Values{"username": {benchAdmin}, "password": {benchPassword}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := newClient().Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("sign-in: status %d, no session cookie", resp.StatusCode)
}

// revocationDelay signs in on instance a, checks on instance b of the same database, signs out on a
// and polls b until it refuses: the time from the sign-out's answer to the first refusal.
func revocationDelay(ctx context.Context, a, b string) (time.Duration, error) {
	cookie, err := passwordSession(ctx, a)
	if err != nil {
		return 0, err
	}
	client := newClient()
	if err := forwardCheck(b, cookie)(ctx, client); err != nil {
		return 0, fmt.Errorf("instance B before sign-out: %w", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a+"/signout", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Origin", a)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return 0, fmt.Errorf("sign-out: status %d", resp.StatusCode)
	}
	start := time.Now()
	if err := forwardCheck(a, cookie)(ctx, client); err == nil {
		return 0, errors.New("instance A still accepts the session it signed out")
	}
	for time.Since(start) < 5*time.Second {
		if err := forwardCheck(b, cookie)(ctx, client); err != nil {
			return time.Since(start), nil
		}
		time.Sleep(time.Millisecond)
	}
	return 0, errors.New("instance B still accepts the signed-out session after 5 s")
}

// oauth2Proxy is a running oauth2-proxy with a cookie of a signed-in user.
type oauth2Proxy struct {
	url, cookie string
	stop        func()
}

// startOAuth2Proxy builds oauth2-proxy with go install into a temporary GOBIN (never this module's
// go.mod; $OAUTH2_PROXY_BIN names a binary built that way to skip the build), starts it against a
// small OIDC provider stub in this process, and signs in through it to get its session cookie.
func startOAuth2Proxy(ctx context.Context, o Options) (_ *oauth2Proxy, err error) {
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	bin := os.Getenv("OAUTH2_PROXY_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "oauth2-proxy-")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
		fmt.Fprintf(o.Progress, "building %s (go install into a temporary GOBIN)…\n", oauth2ProxyMod)
		cmd := exec.CommandContext(ctx, "go", "install", oauth2ProxyMod)
		cmd.Dir = dir // outside this module: go.mod is not touched
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(dir, "bin"), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go install %s: %w\n%s", oauth2ProxyMod, err, out)
		}
		bin = filepath.Join(dir, "bin", "oauth2-proxy")
	}
	idp, stopIdP, err := startOIDCStub()
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, stopIdP)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cmd := exec.CommandContext(ctx, bin,
		"--http-address="+addr,
		"--provider=oidc", "--skip-oidc-discovery",
		"--oidc-issuer-url="+idp, "--login-url="+idp+"/authorize", "--redeem-url="+idp+"/token", "--oidc-jwks-url="+idp+"/jwks",
		"--client-id=bench", "--client-secret=bench-secret",
		"--cookie-secret="+fmt.Sprintf("%x", secret), "--cookie-secure=false",
		"--email-domain=*", "--upstream=static://200", "--set-xauthrequest",
		"--redirect-url=http://"+addr+"/oauth2/callback")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard // request log on, as by default; written, not shown
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/ping"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("oauth2-proxy did not start")
		}
	}
	cookie, err := oauth2ProxySignIn(ctx, base)
	if err != nil {
		return nil, err
	}
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	return &oauth2Proxy{url: base, cookie: cookie, stop: stop}, nil
}

// oauth2ProxySignIn runs oauth2-proxy's sign-in against the stub (start → authorize → callback) and
// returns its session cookie.
func oauth2ProxySignIn(ctx context.Context, base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := base + "/oauth2/start?rd=%2F"
	for range 6 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			break
		}
		u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return "", err
		}
		next = u.String()
	}
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "_oauth2_proxy" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", errors.New("oauth2-proxy sign-in through the stub left no _oauth2_proxy cookie")
}

// startOIDCStub serves the little of an OpenID Connect provider oauth2-proxy needs for one sign-in:
// authorize (straight back with a code), token (an RS256 ID token for bench@bench.test) and the key.
func startOIDCStub() (string, func(), error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", nil, err
	}
	var issuer string
	b64 := base64.RawURLEncoding.EncodeToString
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return
		}
		v := back.Query()
		v.Set("code", "c"+b64([]byte(q.Get("nonce")))) // the nonce, if any, rides in the code
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		nonce, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(r.PostForm.Get("code"), "c"))
		now := time.Now()
		header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "bench"})
		claims, _ := json.Marshal(map[string]any{"iss": issuer, "sub": "bench", "aud": "bench", "email": "bench@bench.test",
			"email_verified": true, "preferred_username": "bench", "nonce": string(nonce), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		signing := b64(header) + "." + b64(claims)
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "bench-access", "token_type": "Bearer", "expires_in": 3600,
			"id_token": signing + "." + b64(sig)})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	})
	u, stop, err := StartHTTP(mux)
	issuer = u
	return u, stop, err
}
