package apps

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"gatehouse/models"
)

// Outcomes of a forward-auth check, as counted in /metrics and written in audit details.
const (
	OutcomeAllowed   = "allowed"    // 200 with the identity headers
	OutcomeSignin    = "signin"     // covered, not signed in: off to /signin?rd=
	OutcomeDenied    = "app_denied" // signed in, not allowed by the app's rule
	OutcomeUncovered = "uncovered"  // no enabled proxy app covers the host (or the request names none)
)

// CacheTTL bounds how stale the proxy apps and a user's groups may be in one instance: an admin's
// change to an app or a group reaches every instance within it.
const CacheTTL = time.Second

// Original is the request the reverse proxy is asking about.
type Original struct {
	Scheme string // "http" or "https"
	Host   string // as the browser sent it, port included
	URI    string // path and query, starting with "/"
	Method string
}

// URL is the original request's address, scheme://host/uri: where the browser returns after signing in.
func (o Original) URL() string { return o.Scheme + "://" + o.Host + o.URI }

// FromForwarded reads the original request from X-Forwarded-Proto, -Host, -Uri and -Method (Caddy's
// forward_auth, Traefik's forwardAuth). Only the first value of each list counts: the first proxy's.
func FromForwarded(h http.Header) (Original, bool) {
	o := Original{
		Scheme: strings.ToLower(first(h.Get("X-Forwarded-Proto"))),
		Host:   first(h.Get("X-Forwarded-Host")),
		URI:    h.Get("X-Forwarded-Uri"),
		Method: strings.ToUpper(first(h.Get("X-Forwarded-Method"))),
	}
	if o.URI == "" {
		o.URI = "/"
	}
	return o.check()
}

// FromNginx reads the original request from X-Original-URL and X-Original-Method (nginx's
// auth_request, with proxy_set_header X-Original-URL $scheme://$http_host$request_uri).
func FromNginx(h http.Header) (Original, bool) {
	u, err := url.Parse(strings.TrimSpace(h.Get("X-Original-URL")))
	if err != nil || u.User != nil || u.Opaque != "" {
		return Original{}, false
	}
	uri := u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		uri += "?" + u.RawQuery
	}
	if uri == "" {
		uri = "/"
	}
	return Original{Scheme: strings.ToLower(u.Scheme), Host: u.Host, URI: uri, Method: strings.ToUpper(first(h.Get("X-Original-Method")))}.check()
}

// check refuses what cannot be a browser's request: another scheme, no or a malformed host, a URI
// that is not a path, control characters. Such a request is answered like an uncovered host.
func (o Original) check() (Original, bool) {
	if o.Scheme != "http" && o.Scheme != "https" {
		return o, false
	}
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if NormalizeHost(o.Host) == "" || !strings.HasPrefix(o.URI, "/") || strings.HasPrefix(o.URI, "//") {
		return o, false
	}
	for _, s := range []string{o.Host, o.URI, o.Method} {
		if strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == '\\' }) {
			return o, false
		}
	}
	return o, true
}

func first(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// NormalizeHost is a host as domains are matched: lower case, without port, brackets or a final
// dot. It returns "" for something that is not a host name or IP address.
func NormalizeHost(host string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if strings.HasPrefix(h, "[") { // [::1]:8080
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		return h[1:end]
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || strings.ContainsAny(h, "/?#@\\%* \t") || strings.Contains(h, "..") {
		return ""
	}
	return h
}

// Covers tells whether a domain of a proxy app covers a host: the same host, or for "*.suffix" any
// name ending in ".suffix" (not the bare suffix). Case and ports are ignored.
func Covers(domain, host string) bool {
	host = NormalizeHost(host)
	if host == "" {
		return false
	}
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if suffix, ok := strings.CutPrefix(d, "*."); ok {
		return suffix != "" && strings.HasSuffix(host, "."+suffix)
	}
	return NormalizeHost(d) == host
}

// AppFor finds the enabled proxy app among list that covers host. An exact domain wins over a
// wildcard; of two wildcards the longer suffix wins (a host belongs to one app, so this only
// matters while an admin's edits are in flight).
func AppFor(list []models.App, host string) (models.App, bool) {
	var best models.App
	bestScore := -1
	for _, a := range list {
		if !a.Enabled || !a.IsProxy() {
			continue
		}
		for _, d := range a.Domains {
			if !Covers(d, host) {
				continue
			}
			score := len(d)
			if !strings.HasPrefix(d, "*.") {
				score += 1 << 16
			}
			if score > bestScore {
				best, bestScore = a, score
			}
		}
	}
	return best, bestScore >= 0
}

// Identity is what an allowed check tells the app: the four Remote-* headers, all of them always
// set, empty when unknown.
type Identity struct {
	User, Name, Email, Groups string
}

// IdentityOf builds the identity headers of a user: Remote-Name is the display name (else the
// username) percent-encoded as in a URL path, so any UTF-8 name survives a header; Remote-Groups
// the sorted group names joined by "," without spaces.
func IdentityOf(u models.User, groups []string) Identity {
	name := u.Nickname
	if strings.TrimSpace(name) == "" {
		name = u.Username
	}
	g := slices.Clone(groups)
	slices.Sort(g)
	g = slices.Compact(g)
	return Identity{User: u.Username, Name: url.PathEscape(name), Email: u.Email, Groups: strings.Join(g, ",")}
}

// Set writes the identity as headers, replacing any of the same name.
func (id Identity) Set(h http.Header) {
	h.Set("Remote-User", id.User)
	h.Set("Remote-Name", id.Name)
	h.Set("Remote-Email", id.Email)
	h.Set("Remote-Groups", id.Groups)
}

// Forward decides forward-auth checks. It keeps the enabled proxy apps and users' groups in memory
// for at most CacheTTL, so that a check costs about one session lookup; the session itself is never
// cached, so a revoked one is refused at the next check on every instance.
type Forward struct {
	store    *models.Store
	groupsOf GroupsFunc
	now      func() time.Time
	ttl      time.Duration

	flight singleflight.Group
	mu     sync.Mutex
	apps   []models.App
	appsAt time.Time
	groups map[int64]groupsEntry
	// audited remembers when a refusal of (user, app) was last audited, for at most one a minute.
	audited map[[2]int64]time.Time
}

type groupsEntry struct {
	names []string
	at    time.Time
}

// maxCached bounds the groups cache and the audit limiter: past it they start again empty (a burst of
// distinct users costs a few more queries or one more audit row each, never unbounded memory).
const maxCached = 10000

// GroupsFunc returns the names of a user's groups (directory.UserGroups).
type GroupsFunc func(ctx context.Context, st *models.Store, u models.User) ([]string, error)

// NewForward builds the decider on a store; groupsOf computes a user's groups, now is the server's
// clock (for the audit limiter; the caches use real time).
func NewForward(store *models.Store, groupsOf GroupsFunc, now func() time.Time) *Forward {
	return &Forward{store: store, groupsOf: groupsOf, now: now, ttl: CacheTTL, groups: map[int64]groupsEntry{}, audited: map[[2]int64]time.Time{}}
}

// ProxyApps returns the enabled proxy apps, read from the database at most once per CacheTTL.
func (f *Forward) ProxyApps(ctx context.Context) ([]models.App, error) {
	now := time.Now()
	f.mu.Lock()
	if f.appsAt.Add(f.ttl).After(now) {
		list := f.apps
		f.mu.Unlock()
		return list, nil
	}
	f.mu.Unlock()
	v, err, _ := f.flight.Do("apps", func() (any, error) {
		all, err := f.store.AppsOfType(context.WithoutCancel(ctx), models.AppTypeProxy)
		if err != nil {
			return nil, err
		}
		list := slices.DeleteFunc(all, func(a models.App) bool { return !a.Enabled })
		f.mu.Lock()
		f.apps, f.appsAt = list, time.Now()
		f.mu.Unlock()
		return list, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]models.App), nil
}

// Covered finds the enabled proxy app that covers host.
func (f *Forward) Covered(ctx context.Context, host string) (models.App, bool, error) {
	list, err := f.ProxyApps(ctx)
	if err != nil {
		return models.App{}, false, err
	}
	a, ok := AppFor(list, host)
	return a, ok, nil
}

// Groups returns the user's group names, computed at most once per CacheTTL per user.
func (f *Forward) Groups(ctx context.Context, u models.User) ([]string, error) {
	now := time.Now()
	f.mu.Lock()
	e, ok := f.groups[u.ID]
	f.mu.Unlock()
	if ok && e.at.Add(f.ttl).After(now) {
		return e.names, nil
	}
	names, err := f.groupsOf(ctx, f.store, u)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.groups) >= maxCached {
		clear(f.groups)
	}
	f.groups[u.ID] = groupsEntry{names: names, at: time.Now()}
	f.mu.Unlock()
	return names, nil
}

// Decision is the answer to one check.
type Decision struct {
	Outcome  string
	App      models.App // the covering app, when there is one
	Identity Identity   // when allowed
}

// Decide answers a check of the original request o for the signed-in user u (nil: not signed in).
func (f *Forward) Decide(ctx context.Context, o Original, u *models.User) (Decision, error) {
	app, ok, err := f.Covered(ctx, o.Host)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		return Decision{Outcome: OutcomeUncovered}, nil
	}
	if u == nil {
		return Decision{Outcome: OutcomeSignin, App: app}, nil
	}
	groups, err := f.Groups(ctx, *u)
	if err != nil {
		return Decision{}, err
	}
	if !Allowed(app, *u, groups) {
		return Decision{Outcome: OutcomeDenied, App: app}, nil
	}
	return Decision{Outcome: OutcomeAllowed, App: app, Identity: IdentityOf(*u, groups)}, nil
}

// ShouldAudit tells whether a refusal of user for app is to be audited now: at most once per user,
// app and minute, so a page with fifty assets writes one row, not fifty.
func (f *Forward) ShouldAudit(userID, appID int64) bool {
	now := f.now()
	key := [2]int64{userID, appID}
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.audited[key]; ok && now.Sub(last) < time.Minute {
		return false
	}
	if len(f.audited) >= maxCached {
		for k, t := range f.audited {
			if now.Sub(t) >= time.Minute {
				delete(f.audited, k)
			}
		}
		if len(f.audited) >= maxCached {
			clear(f.audited)
		}
	}
	f.audited[key] = now
	return true
}

// SigninURL is where a browser that is not signed in goes: the sign-in page of the public origin,
// with the original URL in rd.
func SigninURL(origin *url.URL, o Original) string {
	return strings.TrimSuffix(origin.String(), "/") + "/signin?rd=" + url.QueryEscape(o.URL())
}

// ReturnTo tells whether rd may be followed after a sign-in (DESIGN.md §10): an absolute URL with the
// origin's scheme, no userinfo, and a host an enabled proxy app covers. It returns the URL to
// redirect to, re-assembled from its parsed parts, or false.
func (f *Forward) ReturnTo(ctx context.Context, rd string, origin *url.URL) (string, bool) {
	target, ok := rdShape(rd, origin)
	if !ok {
		return "", false
	}
	_, covered, err := f.Covered(ctx, target.Host)
	if err != nil || !covered {
		return "", false
	}
	return target.String(), true
}

// rdShape checks everything about rd but the covering app.
func rdShape(rd string, origin *url.URL) (*url.URL, bool) {
	if origin == nil || rd == "" || len(rd) > 2048 {
		return nil, false
	}
	if strings.ContainsFunc(rd, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || r == '\u2028' || r == '\u2029' }) {
		return nil, false
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != origin.Scheme || u.User != nil || u.Opaque != "" || u.Host == "" {
		return nil, false
	}
	// The raw text must say exactly what was parsed: scheme "://" host, so no trick of the parser
	// (encoded separators, a missing slash) can make a browser read another host.
	if !strings.HasPrefix(rd, u.Scheme+"://"+u.Host) {
		return nil, false
	}
	rest := rd[len(u.Scheme+"://"+u.Host):]
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return nil, false
	}
	if NormalizeHost(u.Host) == "" || strings.ContainsAny(u.Host, "%") {
		return nil, false
	}
	if dec, err := url.PathUnescape(rest); err != nil || strings.HasPrefix(dec, "//") || strings.Contains(dec, "\\") {
		return nil, false
	}
	return u, true
}
