package wecomtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scopes a code can carry. ScopeWebLogin is the simulator's name for a QR / web-login code.
const (
	ScopeBase        = "snsapi_base"
	ScopePrivateInfo = "snsapi_privateinfo"
	ScopeWebLogin    = "web_login"
)

// ExternalUser is the userid the pages use for their "external WeChat user" choice: it is not a
// member of any corp, so its code yields an openid.
const ExternalUser = "external-wechat-user"

// Lifetimes of what the simulator issues, on the simulator's clock.
const (
	TokenLifetime  = 7200 * time.Second
	CodeLifetime   = 5 * time.Minute
	TicketLifetime = 1800 * time.Second
)

// Errors IssueCode returns where a page would issue no code.
var (
	ErrConsentRefused = errors.New("wecomtest: member refuses consent")
	ErrMemberInactive = errors.New("wecomtest: member is not active")
)

// Corp is a simulated WeCom organisation.
type Corp struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	TrustedDomains []string `json:"trusted_domains"` // host[:port], exact match, for redirect_uri
	TrustedIPs     []string `json:"trusted_ips"`     // caller IPs allowed on the API; empty = any
	Apps           []App    `json:"apps"`
	// Departments of the corp; the root (id 1, named after the corp) is added when missing.
	Departments []Department `json:"departments"`
	Tags        []Tag        `json:"tags"`
}

// App is a self-built app of a corp.
type App struct {
	AgentID int64  `json:"agent_id"`
	Secret  string `json:"secret"`
	Name    string `json:"name"`
	Legacy  bool   `json:"legacy"` // created before 2022-06-20: user/get still returns mobile, email, …
	// VisibleDepartments is the app's visible range of departments: each listed department and every
	// one under it. nil means the whole corp. (Members' own visibility is Member.VisibleTo.)
	VisibleDepartments []int `json:"visible_departments"`
}

// Member is a simulated member of a corp.
type Member struct {
	UserID        string  `json:"userid"`
	Name          string  `json:"name"`
	Mobile        string  `json:"mobile"`
	Email         string  `json:"email"`
	Alias         string  `json:"alias"`
	Position      string  `json:"position"`
	Department    []int   `json:"department"`
	Status        int     `json:"status"`         // 1 active (default when 0), 2 disabled, 4 not activated, 5 left
	VisibleTo     []int64 `json:"visible_to"`     // agent ids whose visible range holds the member; nil = every app
	RefuseConsent bool    `json:"refuse_consent"` // refuses the snsapi_privateinfo consent sheet
	HideMobile    bool    `json:"hide_mobile"`    // consents, but the app may not read mobile, email, biz_mail, address

	// Detail fields, returned by getuserdetail (and by user/get to legacy apps).
	Gender  string `json:"gender"` // "0" unknown (default), "1" male, "2" female
	Avatar  string `json:"avatar"`
	QRCode  string `json:"qr_code"`
	BizMail string `json:"biz_mail"`
	Address string `json:"address"`
}

func (m *Member) visibleTo(agentID int64) bool {
	return m.VisibleTo == nil || slices.Contains(m.VisibleTo, agentID)
}

// Option configures a Sim.
type Option func(*Sim)

// WithClock makes the simulator read time from now, so tests can age codes, tickets and tokens.
func WithClock(now func() time.Time) Option {
	return func(s *Sim) { s.now = now }
}

// Sim is the simulator. It is safe for concurrent use.
type Sim struct {
	now   func() time.Time
	mux   *http.ServeMux
	pages *template.Template

	mu        sync.Mutex
	corps     map[string]*corpState
	corpOrder []string
	current   map[appKey]string // each app's live token
	tokens    map[string]*tokenState
	codes     map[string]*grant
	tickets   map[string]*ticketState
	failures  map[string][]int // endpoint → errcodes the next calls answer
	calls     map[string]int
	latency   time.Duration
	down      bool // every API call has its connection dropped without a reply
	failAll   int  // every API call answers this errcode (0: none)
	lastSweep time.Time

	evOnce sync.Once
	ev     *eventState // event callbacks and their deliveries (events.go)
	// Rate-limit knobs (directory.go): 45009 past perMinute calls of an endpoint in a minute of the
	// simulator's clock, 45033 past maxConcurrent API calls under way at once.
	perMinute     map[string]int
	window        map[string]*rateWindow
	maxConcurrent int
	inFlight      int
	// hooks are told of every change to a member made through a setter (OnMemberChange).
	hooks []func(MemberChange)
}

type appKey struct {
	corpID  string
	agentID int64
}

type corpState struct {
	Corp
	members map[string]*Member
	order   []string
	depts   map[int]*Department // by id; Corp.Departments is not kept up to date
	tags    map[int]*Tag        // by id; Corp.Tags is not kept up to date
}

func (c *corpState) app(agentID int64) (App, bool) {
	for _, a := range c.Apps {
		if a.AgentID == agentID {
			return a, true
		}
	}
	return App{}, false
}

func (c *corpState) appBySecret(secret string) (App, bool) {
	for _, a := range c.Apps {
		if a.Secret == secret {
			return a, true
		}
	}
	return App{}, false
}

func (c *corpState) trustsDomain(host string) bool {
	return slices.Contains(c.TrustedDomains, host)
}

func (c *corpState) trustsIP(ip string) bool {
	return len(c.TrustedIPs) == 0 || slices.Contains(c.TrustedIPs, ip)
}

type tokenState struct {
	app       appKey
	expiresAt time.Time
	dead      int // 42001 or 40014 once ExpireToken or RevokeToken killed it early
}

// grant is an issued OAuth code.
type grant struct {
	app          appKey // agentID 0 for snsapi_base without agentid
	userID       string
	member       bool
	scope        string
	redirectHost string
	expiresAt    time.Time
}

type ticketState struct {
	app       appKey
	userID    string
	expiresAt time.Time
}

// New returns an empty simulator; add corps and members with AddCorp, AddMember or Apply.
func New(opts ...Option) *Sim {
	s := &Sim{
		now:       time.Now,
		corps:     make(map[string]*corpState),
		current:   make(map[appKey]string),
		tokens:    make(map[string]*tokenState),
		codes:     make(map[string]*grant),
		tickets:   make(map[string]*ticketState),
		failures:  make(map[string][]int),
		calls:     make(map[string]int),
		perMinute: make(map[string]int),
		window:    make(map[string]*rateWindow),
	}
	for _, opt := range opts {
		opt(s)
	}
	s.pages = parsePages()
	s.mux = s.routes()
	return s
}

// NewServer starts the simulator on a loopback httptest server, closed when the test ends.
func NewServer(t testing.TB, opts ...Option) (*Sim, *httptest.Server) {
	t.Helper()
	s := New(opts...)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// AddCorp adds a corp and its apps.
func (s *Sim) AddCorp(c Corp) error {
	if c.ID == "" {
		return errors.New("wecomtest: corp without id")
	}
	seen := make(map[int64]bool)
	for _, a := range c.Apps {
		if a.AgentID <= 0 || a.Secret == "" {
			return fmt.Errorf("wecomtest: corp %s: app %d needs a positive agent id and a secret", c.ID, a.AgentID)
		}
		if seen[a.AgentID] {
			return fmt.Errorf("wecomtest: corp %s: agent id %d twice", c.ID, a.AgentID)
		}
		seen[a.AgentID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.corps[c.ID]; ok {
		return fmt.Errorf("wecomtest: corp %s already exists", c.ID)
	}
	c.TrustedDomains = slices.Clone(c.TrustedDomains)
	c.TrustedIPs = slices.Clone(c.TrustedIPs)
	c.Apps = slices.Clone(c.Apps)
	cs := &corpState{Corp: c, members: make(map[string]*Member)}
	if err := cs.initDirectory(); err != nil {
		return err
	}
	s.corps[c.ID] = cs
	s.corpOrder = append(s.corpOrder, c.ID)
	return nil
}

// AddMember adds a member to a corp. Status 0 means active (1).
func (s *Sim) AddMember(corpID string, m Member) error {
	if m.UserID == "" {
		return fmt.Errorf("wecomtest: corp %s: member without userid", corpID)
	}
	if m.Status == 0 {
		m.Status = 1
	}
	if m.Gender == "" {
		m.Gender = "0"
	}
	m.Department = slices.Clone(m.Department)
	if m.Department == nil {
		m.Department = []int{1}
	}
	m.VisibleTo = slices.Clone(m.VisibleTo)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[corpID]
	if !ok {
		return fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	if _, ok := c.members[m.UserID]; ok {
		return fmt.Errorf("wecomtest: corp %s: member %s already exists", corpID, m.UserID)
	}
	for _, d := range m.Department {
		c.ensureDept(d)
	}
	c.members[m.UserID] = &m
	c.order = append(c.order, m.UserID)
	return nil
}

// SetMemberStatus changes what user/get says of a member's status (1 active, 2 disabled, 4 not
// activated, 5 left), as the admin console would.
func (s *Sim) SetMemberStatus(corpID, userID string, status int) error {
	return s.changeMember(corpID, userID, "status", func(_ *corpState, m *Member) error {
		m.Status = status
		return nil
	})
}

// ExpireToken ends the app's live token early: the next data call with it answers 42001, and
// the next gettoken issues a new one.
func (s *Sim) ExpireToken(corpID string, agentID int64) { s.killToken(appKey{corpID, agentID}, 42001) }

// RevokeToken invalidates the app's live token: the next data call with it answers 40014, and
// the next gettoken issues a new one.
func (s *Sim) RevokeToken(corpID string, agentID int64) { s.killToken(appKey{corpID, agentID}, 40014) }

func (s *Sim) killToken(key appKey, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.current[key]; ok {
		if t, ok := s.tokens[tok]; ok {
			t.dead = code
		}
		delete(s.current, key)
	}
}

// FailNext makes the next n calls to endpoint ("gettoken", "getuserinfo", "getuserdetail",
// "user/get", "getuserid", "department/simplelist", "department/list", "department/get",
// "tag/list", "tag/get", "user/list_id"; the legacy paths share their modern endpoint's name) answer errcode,
// before any other check. Calls queue up: FailNext("x", 1, -1) then FailNext("x", 1, 45009)
// answers -1 then 45009.
func (s *Sim) FailNext(endpoint string, n int, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[endpoint] = append(s.failures[endpoint], errcode)
	}
}

// SetLatency delays every API reply by d (a request whose context ends first gets no reply).
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetDown makes every API call fail as if WeCom were down: the connection is dropped without a reply
// (pages keep working, so codes can still be issued). SetDown(false) brings it back.
func (s *Sim) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// FailAll makes every API call answer errcode (after any queued by FailNext) until FailAll(0): a
// WeCom that stays busy (-1) or keeps rate-limiting (45009).
func (s *Sim) FailAll(errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = errcode
}

// Calls returns how many requests reached endpoint (names as for FailNext).
func (s *Sim) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// ResetCalls zeroes every call counter.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// IssueCode mints a code as a page would after the member's choice, for tests that skip the
// browser page. userID not in the corp mints a non-member (openid) code. scope is ScopeBase,
// ScopePrivateInfo or ScopeWebLogin; ScopePrivateInfo without agentID becomes ScopeBase, as in
// WeCom. Inactive members and, for ScopePrivateInfo, members who refuse consent get no code
// (ErrMemberInactive, ErrConsentRefused).
func (s *Sim) IssueCode(corpID string, agentID int64, userID, scope, redirectURI string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueCode(corpID, agentID, userID, scope, redirectURI)
}

// issueCode is IssueCode with s.mu held.
func (s *Sim) issueCode(corpID string, agentID int64, userID, scope, redirectURI string) (string, error) {
	c, ok := s.corps[corpID]
	if !ok {
		return "", fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	if agentID != 0 {
		if _, ok := c.app(agentID); !ok {
			return "", fmt.Errorf("wecomtest: corp %s has no app %d", corpID, agentID)
		}
	}
	switch scope {
	case ScopeBase:
	case ScopePrivateInfo:
		if agentID == 0 {
			scope = ScopeBase
		}
	case ScopeWebLogin:
		if agentID == 0 {
			return "", errors.New("wecomtest: a web-login code needs an agent id")
		}
	default:
		return "", fmt.Errorf("wecomtest: unknown scope %q", scope)
	}
	host, err := redirectHost(redirectURI)
	if err != nil {
		return "", err
	}
	if userID == "" {
		return "", errors.New("wecomtest: code without userid")
	}
	m, member := c.members[userID]
	if member && m.Status != 1 {
		return "", fmt.Errorf("%w: %s has status %d", ErrMemberInactive, userID, m.Status)
	}
	if member && scope == ScopePrivateInfo && m.RefuseConsent {
		return "", fmt.Errorf("%w: %s", ErrConsentRefused, userID)
	}
	now := s.now()
	s.sweep(now)
	code := randomString(32)
	s.codes[code] = &grant{
		app:          appKey{corpID, agentID},
		userID:       userID,
		member:       member,
		scope:        scope,
		redirectHost: host,
		expiresAt:    now.Add(CodeLifetime),
	}
	return code, nil
}

// sweep forgets codes, tickets and tokens long dead, at most once a minute, so a long demo or
// benchmark does not grow without bound. Tickets and tokens are kept an hour past their expiry
// so they still answer "expired" rather than "invalid" meanwhile.
func (s *Sim) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, g := range s.codes {
		if now.After(g.expiresAt) {
			delete(s.codes, k)
		}
	}
	for k, t := range s.tickets {
		if now.After(t.expiresAt.Add(time.Hour)) {
			delete(s.tickets, k)
		}
	}
	for k, t := range s.tokens {
		if now.After(t.expiresAt.Add(time.Hour)) {
			delete(s.tokens, k)
		}
	}
}

func redirectHost(redirectURI string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("wecomtest: redirect_uri %q is not an absolute http(s) URL", redirectURI)
	}
	return u.Host, nil
}

// randomString returns n random bytes, base64url-encoded: codes, tickets and tokens.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openID derives a stable openid for a non-member of a corp.
func openID(corpID, userID string) string {
	sum := sha256.Sum256([]byte("openid:" + corpID + ":" + userID))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

func externalUserID(corpID, userID string) string {
	sum := sha256.Sum256([]byte("external:" + corpID + ":" + userID))
	return "wm" + hex.EncodeToString(sum[:])[:30]
}

// normalizeMobile compares mobiles with or without China's country code.
func normalizeMobile(m string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, m)
	if len(digits) == 13 && strings.HasPrefix(digits, "86") {
		return digits[2:]
	}
	return digits
}
