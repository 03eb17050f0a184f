// Package webtest runs a whole Gatehouse server for tests: a fresh database (SQLite or PostgreSQL),
// the real routes and middleware behind httptest, a log buffer to search for leaked secrets, and an
// HTTP client with a cookie jar that does not follow redirects, so tests see every 303.
package webtest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
)

// App is a running Gatehouse.
type App struct {
	T      testing.TB
	Store  *models.Store
	Server *httptest.Server
	// Gatehouse is the server behind Server, for tests of its own lifecycle (Serve).
	Gatehouse *web.Server
	Config    web.Config
	logs      *SyncBuffer
}

// Option changes the configuration or server options before the server starts.
type Option func(*web.Config, *web.Options)

// WithThrottle sets the password throttle.
func WithThrottle(th auth.Throttle) Option {
	return func(_ *web.Config, o *web.Options) { o.Throttle = &th }
}

// WithClock makes the server read time from now (state, session and token expiry).
func WithClock(now func() time.Time) Option {
	return func(_ *web.Config, o *web.Options) { o.Now = now }
}

// WithWeCom points the three WeCom hosts at a simulator (or any base URL).
func WithWeCom(base string) Option {
	return func(c *web.Config, _ *web.Options) {
		c.WeComAPIBase, c.WeComOAuthBase, c.WeComLoginBase = base, base, base
	}
}

// MetricsToken is the token WithMetrics sets; scrape with Client.Header("Authorization", "Bearer "+MetricsToken).
const MetricsToken = "test-metrics-token-0123456789"

// WithMetrics opens /metrics to requests carrying MetricsToken.
func WithMetrics() Option {
	return func(c *web.Config, _ *web.Options) { c.MetricsToken = MetricsToken }
}

// New starts Gatehouse on a fresh database of the given dialect ("sqlite" or "postgres").
func New(t testing.TB, dialect string, opts ...Option) *App {
	t.Helper()
	store := modelstest.Open(t, dialect)
	return NewOnStore(t, store, opts...)
}

// WithDemo runs the app in demo mode: the WeCom simulator in-process under /_wecom on the app's own
// origin, with the demo corp, user and authenticator seeded.
func WithDemo() Option {
	return func(c *web.Config, _ *web.Options) { c.Demo = true }
}

// NewOnStore starts Gatehouse on an existing, migrated store (several instances on one database).
func NewOnStore(t testing.TB, store *models.Store, opts ...Option) *App {
	t.Helper()
	cfg, err := web.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretKey = []byte("test-secret-key-0123456789abcdef-0123456789")
	// Listen first, so that the configuration knows the app's own origin (demo mode calls itself);
	// options come after, so that a test may change or drop the base URL.
	ts := httptest.NewUnstartedServer(nil)
	cfg.Addr = ts.Listener.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: cfg.Addr}
	var o web.Options
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Demo {
		err := store.Migrate(context.Background(), func(ctx context.Context, s *models.Store) error {
			if err := web.ClaimDemoDatabase(ctx, s); err != nil {
				return err
			}
			return web.SeedDemo(ctx, s, cfg)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := web.New(cfg, store, log, o)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return &App{T: t, Store: store, Server: ts, Gatehouse: srv, Config: cfg, logs: logs}
}

// URL is the server's base URL.
func (a *App) URL() string { return a.Server.URL }

// Logs returns everything the server logged so far.
func (a *App) Logs() string { return a.logs.String() }

// CreateUser adds a user directly in the store; password "" leaves it without one.
func (a *App) CreateUser(username, password string, admin bool, mobile string) models.User {
	a.T.Helper()
	u := models.User{Username: username, Nickname: strings.ToUpper(username[:1]) + username[1:], IsAdmin: admin}
	if password != "" {
		h, err := auth.HashPassword(password)
		if err != nil {
			a.T.Fatal(err)
		}
		u.PasswordHash = &h
	}
	if mobile != "" {
		m, err := models.NormalizeMobile(mobile)
		if err != nil {
			a.T.Fatal(err)
		}
		u.Mobile = &m
	}
	if err := a.Store.CreateUser(context.Background(), &u); err != nil {
		a.T.Fatal(err)
	}
	return u
}

// WeComAuthenticator describes a WeCom authenticator to create directly in the store.
type WeComAuthenticator struct {
	Name, Title, CorpID, Secret string
	AgentID                     int64
	AutoSignup, AutoLogin       bool
	RedirectPath, MobilePath    string
	// Origin defaults to the app's URL.
	Origin string
}

// CreateWeComAuthenticator adds an enabled WeCom authenticator with its secret sealed as the app would.
func (a *App) CreateWeComAuthenticator(w WeComAuthenticator) models.Authenticator {
	a.T.Helper()
	sealer, err := models.NewSealer(a.Config.SecretKey)
	if err != nil {
		a.T.Fatal(err)
	}
	sealed, err := sealer.Seal(w.Secret, models.AuthenticatorSecret(w.Name))
	if err != nil {
		a.T.Fatal(err)
	}
	if w.Origin == "" {
		w.Origin = a.URL()
	}
	if w.Title == "" {
		w.Title = "WeCom"
	}
	row := models.Authenticator{Name: w.Name, Type: models.TypeWeCom, Title: w.Title, Enabled: true, Sort: 10, SecretSealed: sealed, AutoLogin: w.AutoLogin,
		Options: models.AuthenticatorOptions{CorpID: w.CorpID, AgentID: w.AgentID, Origin: w.Origin, AutoSignup: w.AutoSignup,
			RedirectPath: w.RedirectPath, MobileRedirectPath: w.MobilePath, Handoff: true}}
	if err := a.Store.CreateAuthenticator(context.Background(), &row); err != nil {
		a.T.Fatal(err)
	}
	return row
}

// Client is a browser-like HTTP client: it keeps cookies and does not follow redirects.
type Client struct {
	app       *App
	http      *http.Client
	UserAgent string
	Language  string
	headers   http.Header
}

// Client returns a new client with an empty cookie jar.
func (a *App) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{app: a, http: &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, Language: "en"}
}

// Response is a read response with its body and, for HTML, its parsed document.
type Response struct {
	*http.Response
	Body string
	Doc  *goquery.Document
}

// Location is the redirect target, or "".
func (r *Response) Location() string { return r.Header.Get("Location") }

// Find returns the elements matching a CSS selector.
func (r *Response) Find(sel string) *goquery.Selection { return r.Doc.Find(sel) }

// Outcome is the data-outcome of the page's main element.
func (r *Response) Outcome() string {
	v, _ := r.Doc.Find("[data-outcome]").Attr("data-outcome")
	return v
}

// Header adds a header to every request of this client (such as the simulator's automatic mode,
// X-WeCom-Sim-Member, which only the simulator reads).
func (c *Client) Header(name, value string) {
	if c.headers == nil {
		c.headers = http.Header{}
	}
	c.headers.Set(name, value)
}

// Follow fetches path and follows redirects across hosts (Gatehouse ↔ WeCom simulator) until a
// response that is not a redirect, or until a redirect back to a path matching stop, at most 10 hops.
func (c *Client) Follow(path string) (*Response, []string) {
	c.app.T.Helper()
	var hops []string
	r := c.Get(path)
	for i := 0; i < 10 && r.StatusCode >= 300 && r.StatusCode < 400; i++ {
		next, err := r.Request.URL.Parse(r.Location())
		if err != nil {
			c.app.T.Fatalf("bad Location %q: %v", r.Location(), err)
		}
		hops = append(hops, next.String())
		r = c.Get(next.String())
	}
	return r, hops
}

// Do sends a request; path may be absolute (another host, such as the WeCom simulator) or a path.
func (c *Client) Do(req *http.Request) *Response {
	c.app.T.Helper()
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if c.Language != "" && req.Header.Get("Accept-Language") == "" {
		req.Header.Set("Accept-Language", c.Language)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.app.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	out := &Response{Response: resp, Body: buf.String()}
	out.Doc, _ = goquery.NewDocumentFromReader(strings.NewReader(out.Body))
	return out
}

func (c *Client) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return c.app.URL() + path
}

// Get fetches a path.
func (c *Client) Get(path string) *Response {
	c.app.T.Helper()
	req, err := http.NewRequest(http.MethodGet, c.abs(path), nil)
	if err != nil {
		c.app.T.Fatal(err)
	}
	return c.Do(req)
}

// Post submits a form as a same-origin browser would (Origin and Sec-Fetch-Site set).
func (c *Client) Post(path string, form url.Values) *Response {
	c.app.T.Helper()
	req, err := http.NewRequest(http.MethodPost, c.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		c.app.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.app.URL())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// SignIn signs in with a password and fails the test unless it succeeds.
func (c *Client) SignIn(username, password string) {
	c.app.T.Helper()
	r := c.Post("/signin", url.Values{"username": {username}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		c.app.T.Fatalf("sign in as %s: status %d, error %q", username, r.StatusCode, r.Find("[data-testid=signin-error]").Text())
	}
}

// Cookie returns the value of a cookie the client holds for the app, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.app.URL())
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie plants a cookie for the app (session fixation tests).
func (c *Client) SetCookie(name, value string) {
	u, _ := url.Parse(c.app.URL())
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// ForEach runs fn once per database dialect under test, each with a fresh app.
func ForEach(t *testing.T, fn func(t *testing.T, app *App), opts ...Option) {
	for _, d := range modelstest.Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, New(t, d, opts...)) })
	}
}

// SyncBuffer is a buffer safe for concurrent writers, for logs written while a test reads them.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
