package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/wecom/wecomtest"
)

// The simulated corp and its app, and the authenticator Gatehouse signs in with.
const (
	benchCorpID  = "wwbench0123456789a"
	benchAgentID = int64(1000002)
	benchSecret  = "bench-secret-0123456789abcdef0123456789abcdef"
	benchAuthn   = "corp"
)

// User-Agents of the two flows: the WeCom client (in-client OAuth, snsapi_privateinfo) and a desktop
// browser (QR / one-click login).
const (
	uaWeCom   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.26 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
	uaDesktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// wecomWorld is the WeCom simulator on its own loopback httptest server, one or more Gatehouse instances
// pointed at it, and the WeCom authenticator "corp" whose origin is the first instance.
type wecomWorld struct {
	sim      *wecomtest.Sim
	simURL   string
	gs       []*Gatehouse
	authn    models.Authenticator
	callback string // the redirect_uri WeCom calls back: origin + /auth/wecom/corp/callback
	key      []byte // the instances' shared secret key
	members  int    // members m000000 … are bound (seedBound)
	close    []func()
}

func (w *wecomWorld) Close() {
	for i := len(w.close) - 1; i >= 0; i-- {
		w.close[i]()
	}
}

// newWeComWorld starts the simulator and `instances` Gatehouse servers on one fresh database: with one
// instance, StartGatehouse's own; with more, a fresh PostgreSQL schema that each instance opens with a
// store (and connection pool) of its own, as separate processes would.
func newWeComWorld(ctx context.Context, o Options, instances int) (_ *wecomWorld, err error) {
	w := &wecomWorld{sim: wecomtest.New()}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	simSrv := httptest.NewServer(w.sim)
	w.simURL = simSrv.URL
	w.close = append(w.close, simSrv.Close)
	pointAtSim := func(c *web.Config) { c.WeComAPIBase, c.WeComOAuthBase, c.WeComLoginBase = w.simURL, w.simURL, w.simURL }
	// web.Options.HTTPClient stays nil: the WeCom client's own (production) HTTP client.
	if instances == 1 {
		g, err := StartGatehouse(ctx, o, web.Options{}, pointAtSim)
		if err != nil {
			return nil, err
		}
		w.close = append(w.close, g.Close)
		w.gs, w.key = []*Gatehouse{g}, g.Config.SecretKey
	} else {
		if o.DB != "postgres" {
			return nil, errors.New("several instances need -db postgres")
		}
		dsn, drop, err := freshSchema(o.DatabaseURL)
		if err != nil {
			return nil, err
		}
		w.close = append(w.close, drop)
		w.key = []byte(randomKey())
		for i := range instances {
			store, err := models.Open(models.Options{DatabaseURL: dsn})
			if err != nil {
				return nil, err
			}
			w.close = append(w.close, func() { store.Close() })
			if i == 0 {
				if err := migrate(ctx, store); err != nil {
					return nil, err
				}
			}
			g, err := ServeGatehouse(ctx, store, w.key, web.Options{}, pointAtSim)
			if err != nil {
				return nil, err
			}
			w.close = append(w.close, g.Close)
			w.gs = append(w.gs, g)
		}
	}
	origin := w.gs[0].URL
	w.callback = origin + "/auth/wecom/" + benchAuthn + "/callback"
	err = w.sim.AddCorp(wecomtest.Corp{ID: benchCorpID, Name: "Bench", TrustedDomains: []string{strings.TrimPrefix(origin, "http://")},
		Apps: []wecomtest.App{{AgentID: benchAgentID, Secret: benchSecret, Name: "Gatehouse"}}})
	if err != nil {
		return nil, err
	}
	sealer, err := models.NewSealer(w.key)
	if err != nil {
		return nil, err
	}
	sealed, err := sealer.Seal(benchSecret, models.AuthenticatorSecret(benchAuthn))
	if err != nil {
		return nil, err
	}
	w.authn = models.Authenticator{Name: benchAuthn, Type: models.TypeWeCom, Title: "WeCom", Enabled: true, Sort: 10, SecretSealed: sealed,
		Options: models.AuthenticatorOptions{CorpID: benchCorpID, AgentID: benchAgentID, Origin: origin, MobileRedirectPath: "/m", Handoff: true}}
	if err := w.gs[0].Store.CreateAuthenticator(ctx, &w.authn); err != nil {
		return nil, err
	}
	return w, nil
}

// randomKey is a fresh secret key, as StartGatehouse makes one.
func randomKey() string { return rand.Text() + rand.Text() }

// memberID is the WeCom userid of seeded member i.
func memberID(i int) string { return fmt.Sprintf("m%06d", i) }

// memberMobile is the mobile number of member i (mainland format, as WeCom returns it).
func memberMobile(i int) string { return fmt.Sprintf("139%08d", i) }

// seedBound adds members [from, to) to the simulator and, in the store, a user for each bound to its
// member at the authenticator, as their first sign-in would have left them (DESIGN.md §6 rule 4 on the
// next one). Workers insert in parallel.
func (w *wecomWorld) seedBound(ctx context.Context, from, to int) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	next.Store(int64(from))
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				if err := w.seedOne(ctx, i, true); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first == nil {
		w.members = max(w.members, to)
	}
	return first
}

// seedOne adds member i to the simulator and a user with the member's mobile to the store, bound to
// the member if bind is set (otherwise the next sign-in is a first sign-in by mobile match, rule 5).
func (w *wecomWorld) seedOne(ctx context.Context, i int, bind bool) error {
	id := memberID(i)
	if err := w.sim.AddMember(benchCorpID, wecomtest.Member{UserID: id, Name: "Member " + id, Mobile: memberMobile(i)}); err != nil {
		return err
	}
	mobile, err := models.NormalizeMobile(memberMobile(i))
	if err != nil {
		return err
	}
	u := models.User{Username: "u" + id, Nickname: "Member " + id, Mobile: &mobile}
	if err := w.gs[0].Store.CreateUser(ctx, &u); err != nil {
		return fmt.Errorf("create user %s: %w", u.Username, err)
	}
	if !bind {
		return nil
	}
	b := models.Binding{UserID: u.ID, AuthenticatorID: w.authn.ID, Subject: id, CorpID: benchCorpID, CreatedAt: time.Now().UTC()}
	if err := w.gs[0].Store.CreateBinding(ctx, &b); err != nil {
		return fmt.Errorf("bind %s: %w", id, err)
	}
	return nil
}

// newJarClient is a worker's browser: newClient's keep-alive connection plus a cookie jar.
func newJarClient() *http.Client {
	c := newClient()
	c.Jar, _ = cookiejar.New(nil)
	return c
}

// get sends a GET with a User-Agent, reads the body to the end and returns the response.
func get(ctx context.Context, c *http.Client, u, ua string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Language", "en")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// signIn is one browser sign-in of member i at instance g, as WeCom would call back: GET /start (the
// state cookie lands in the jar; state is read from the Location to WeCom), a code minted by the
// simulator as its page would after the member's choice, then GET /callback, which must answer 303 with
// a new session cookie. It returns the callback's latency and the start's. The session cookie is
// dropped from the jar afterwards, so every sign-in is a browser without a session, as a returning
// member's is (with one, the callback would also revoke the old session).
func (w *wecomWorld) signIn(ctx context.Context, c *http.Client, g *Gatehouse, i int, inClient bool) (timed, setup time.Duration, err error) {
	ua, scope := uaDesktop, wecomtest.ScopeWebLogin
	if inClient {
		ua, scope = uaWeCom, wecomtest.ScopePrivateInfo
	}
	t0 := time.Now()
	resp, err := get(ctx, c, g.URL+"/auth/wecom/"+benchAuthn+"/start", ua)
	setup = time.Since(t0)
	if err != nil {
		return 0, setup, fmt.Errorf("start: %w", err)
	}
	if resp.StatusCode != http.StatusFound {
		return 0, setup, fmt.Errorf("start: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return 0, setup, fmt.Errorf("start: Location: %w", err)
	}
	state := loc.Query().Get("state")
	if state == "" {
		return 0, setup, fmt.Errorf("start: no state in %q", loc)
	}
	code, err := w.sim.IssueCode(benchCorpID, benchAgentID, memberID(i), scope, w.callback)
	if err != nil {
		return 0, setup, fmt.Errorf("issue code: %w", err)
	}
	cb := g.URL + "/auth/wecom/" + benchAuthn + "/callback?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(state)
	t1 := time.Now()
	resp, err = get(ctx, c, cb, ua)
	timed = time.Since(t1)
	if err != nil {
		return timed, setup, fmt.Errorf("callback: %w", err)
	}
	if resp.StatusCode != http.StatusSeeOther {
		return timed, setup, fmt.Errorf("callback of %s: status %d, want 303", memberID(i), resp.StatusCode)
	}
	var session bool
	for _, ck := range resp.Cookies() {
		session = session || (ck.Name == auth.SessionCookie && ck.Value != "" && ck.MaxAge >= 0)
	}
	if !session {
		return timed, setup, fmt.Errorf("callback of %s: 303 without a new %s cookie", memberID(i), auth.SessionCookie)
	}
	if c.Jar != nil {
		c.Jar.SetCookies(resp.Request.URL, []*http.Cookie{{Name: auth.SessionCookie, Path: "/", MaxAge: -1}})
	}
	return timed, setup, nil
}
