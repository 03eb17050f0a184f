package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"gatehouse/models"
	"gatehouse/wecom"
)

// ActionMemberMoved is audited when a refresh finds a member in other departments than last time.
const ActionMemberMoved = "directory.member_moved"

// ErrNotRefreshed wraps a refresh that WeCom could not answer (busy, rate limited, unreachable, the
// tree unavailable): the last facts stay. Any other error (the database) is not wrapped by it.
var ErrNotRefreshed = errors.New("directory: WeCom did not answer the refresh")

// Cache and fetch settings of the department and tag tree.
const (
	// DefaultTreeTTL is how long an authenticator's tree is used before it is fetched again.
	DefaultTreeTTL = 5 * time.Minute
	// treeRetryAfter is how long a failed fetch is not retried (WeCom down or rate limiting must
	// not be asked again at every sign-in).
	treeRetryAfter = 30 * time.Second
	// treeFetchTimeout bounds one fetch of the whole tree.
	treeFetchTimeout = 30 * time.Second
	// treeParallel is how many department/get and tag/get calls run at once: well under WeCom's
	// concurrency limit (45033), fast enough for a few hundred departments.
	treeParallel = 4
	// factsFreshFor: a refresh that finds nothing changed skips the write when the record is younger
	// than this, so a burst of sign-ins by one member costs no writes.
	factsFreshFor = time.Minute
	// maxWalk bounds the walk up the tree (a cycle in a broken reply must not loop).
	maxWalk = 64
)

// WeComReader is what the refresh reads from WeCom (*wecom.Client).
type WeComReader interface {
	User(ctx context.Context, cfg wecom.Config, userID string) (wecom.Member, error)
	DepartmentIDs(ctx context.Context, cfg wecom.Config, rootID int64) ([]wecom.DepartmentRef, error)
	Department(ctx context.Context, cfg wecom.Config, id int64) (wecom.Department, error)
	Tags(ctx context.Context, cfg wecom.Config) ([]wecom.Tag, error)
	TagMembers(ctx context.Context, cfg wecom.Config, tagID int64) (wecom.TagMembers, error)
}

// Refresher keeps what WeCom says about each bound member (DESIGN.md §11): status through Members
// (cut off when gone, let back when active), departments with their visible ancestors, and tags. The
// department and tag tree of each authenticator is fetched once per TreeTTL per process (concurrent
// sign-ins share one fetch) and recorded in directory_departments and directory_tags.
type Refresher struct {
	Store   *models.Store
	WeCom   WeComReader
	Members *Members
	// Config gives the WeCom app of an authenticator (its secret unsealed): auth.WeCom.Config.
	Config  func(models.Authenticator) (wecom.Config, error)
	Now     func() time.Time
	Log     *slog.Logger
	TreeTTL time.Duration // 0: DefaultTreeTTL

	flight singleflight.Group
	mu     sync.Mutex
	trees  map[int64]*tree
}

// tree is an authenticator's departments and tags as its app saw them at fetched.
type tree struct {
	key      string // the app's Config.CacheKey: a re-pointed authenticator never reuses another app's tree
	fetched  time.Time
	failedAt time.Time // last failed fetch, when this tree is a placeholder or stale
	parent   map[int64]int64
	names    map[int64]string
	tagNames map[int64]string
	tagsOf   map[string][]int64 // lowercased userid → tag ids, ascending (WeCom userids ignore case)
	ok       bool               // false: a placeholder recording a failed first fetch
}

// Refreshed is what a refresh found.
type Refreshed struct {
	Member models.DirectoryMember
	// Gone: WeCom says the member left, is disabled or is no longer available to the app; the binding
	// is suspended (Change says what the cut-off did). Suspended: it already was, WeCom not asked.
	Gone, Suspended bool
	Change          models.MemberChange
	// Moved: the member's departments changed since the last refresh (audited).
	Moved bool
}

// Refresh asks WeCom about the member behind userid at authenticator a and records it (the sweep's
// entry point). A userid bound to nobody at a is models.ErrNotFound.
func (r *Refresher) Refresh(ctx context.Context, a models.Authenticator, userid string) (Refreshed, error) {
	b, err := r.Store.BindingBySubject(ctx, a.ID, userid)
	if err != nil {
		return Refreshed{}, err
	}
	cfg, err := r.Config(a)
	if err != nil {
		return Refreshed{}, err
	}
	old, _, err := r.Store.DirectoryMemberOf(ctx, b.ID)
	if err != nil {
		return Refreshed{}, err
	}
	return r.refresh(ctx, a, cfg, b, old, SourceSweep)
}

// SignIn checks and refreshes the member of binding b during a WeCom sign-in whose identity WeCom
// just confirmed. A suspended binding is Gone and Suspended without asking WeCom: it signs nobody in
// until a sweep or an event finds the member active again (DESIGN.md §11). An ErrNotRefreshed error
// means WeCom could not answer (busy, rate limited, unreachable): the last facts stay, and the caller
// logs it and goes on; any other error (the database) must end the sign-in.
func (r *Refresher) SignIn(ctx context.Context, a models.Authenticator, cfg wecom.Config, b models.Binding) (Refreshed, error) {
	old, _, err := r.Store.DirectoryMemberOf(ctx, b.ID)
	if err != nil {
		return Refreshed{}, err
	}
	if old.SuspendedAt != nil {
		return Refreshed{Member: old, Gone: true, Suspended: true}, nil
	}
	return r.refresh(ctx, a, cfg, b, old, SourceSignin)
}

// refresh is one user/get and the cached tree, recorded against old (what was known before).
func (r *Refresher) refresh(ctx context.Context, a models.Authenticator, cfg wecom.Config, b models.Binding, old models.DirectoryMember, source string) (Refreshed, error) {
	member, err := r.WeCom.User(ctx, cfg, b.Subject)
	switch {
	case errors.Is(err, wecom.ErrMemberUnavailable):
		return r.gone(ctx, a, b, models.MemberUnavailable, source)
	case err != nil:
		return Refreshed{Member: old}, fmt.Errorf("%w: refresh %q at %q: %w", ErrNotRefreshed, b.Subject, a.Name, err)
	case member.Status == models.MemberDisabled || member.Status == models.MemberLeft:
		return r.gone(ctx, a, b, member.Status, source)
	}
	status := member.Status
	if status == 0 {
		status = models.MemberActive // a reply without status: the member answered, so active
	}
	var out Refreshed
	if old.SuspendedAt != nil {
		if out.Change, err = r.Members.Back(ctx, a, b.Subject, source); err != nil {
			return Refreshed{Member: old}, err
		}
		old.SuspendedAt = nil
	}
	t, err := r.tree(ctx, a, cfg)
	if err != nil {
		// The status is known and applied; departments and tags keep their last values.
		return Refreshed{Member: old, Change: out.Change}, fmt.Errorf("%w: refresh %q at %q: %w", ErrNotRefreshed, b.Subject, a.Name, err)
	}
	now := r.Now()
	m := models.DirectoryMember{BindingID: b.ID, AuthenticatorID: b.AuthenticatorID, UserID: b.UserID, Status: status, RefreshedAt: now}
	for _, d := range member.Department {
		if id := int64(d); id > 0 && !slices.Contains(m.Departments, id) {
			m.Departments = append(m.Departments, id)
		}
	}
	m.Ancestry = t.ancestry(m.Departments)
	m.Tags = slices.Clone(t.tagsOf[strings.ToLower(b.Subject)])
	known := !old.RefreshedAt.IsZero()
	// A first record, or one a cut-off made before any refresh, has no departments to move from.
	out.Moved = known && len(old.Departments) > 0 && !sameSet(old.Departments, m.Departments)
	unchanged := known && old.Status == m.Status && slices.Equal(old.Departments, m.Departments) &&
		slices.Equal(old.Ancestry, m.Ancestry) && slices.Equal(old.Tags, m.Tags)
	if unchanged && now.Sub(old.RefreshedAt) < factsFreshFor && out.Change.Binding.ID == 0 {
		out.Member = old
		return out, nil
	}
	if err := r.Store.SaveDirectoryFacts(ctx, &m); err != nil {
		return Refreshed{Member: old, Change: out.Change}, err
	}
	out.Member = m
	if out.Moved {
		r.auditMoved(ctx, a, b, t, old.Departments, m.Departments, source)
	}
	return out, nil
}

// gone cuts off a member WeCom reports gone.
func (r *Refresher) gone(ctx context.Context, a models.Authenticator, b models.Binding, status int, source string) (Refreshed, error) {
	ch, err := r.Members.Left(ctx, a, b.Subject, status, source)
	if err != nil {
		return Refreshed{}, err
	}
	m, _, err := r.Store.DirectoryMemberOf(ctx, b.ID)
	return Refreshed{Member: m, Gone: true, Change: ch}, err
}

func (r *Refresher) auditMoved(ctx context.Context, a models.Authenticator, b models.Binding, t *tree, from, to []int64, source string) {
	u, err := r.Store.UserByID(ctx, b.UserID)
	if err != nil {
		r.Log.Error("audit member moved: load user", "user_id", b.UserID, "err", err)
		return
	}
	detail := map[string]any{"userid": b.Subject, "authenticator": a.Name, "source": source,
		"from": from, "to": to, "from_names": t.namesOf(from), "to_names": t.namesOf(to)}
	if err := r.Store.Audit(ctx, models.Event{Action: ActionMemberMoved, Target: u.Username, Detail: detail}); err != nil {
		r.Log.Error("audit member moved", "user", u.Username, "err", err)
	}
}

// tree returns the authenticator's tree: the cached one while it is fresh; a stale one at once while
// a single background fetch replaces it; with none cached, it waits for the fetch (shared by every
// caller at that moment).
func (r *Refresher) tree(ctx context.Context, a models.Authenticator, cfg wecom.Config) (*tree, error) {
	key, now := cfg.CacheKey(), r.Now()
	r.mu.Lock()
	t := r.trees[a.ID]
	r.mu.Unlock()
	if t != nil && t.key != key {
		t = nil
	}
	fresh := t != nil && t.ok && now.Sub(t.fetched) < r.ttl()
	resting := t != nil && !t.failedAt.IsZero() && now.Sub(t.failedAt) < treeRetryAfter
	switch {
	case fresh:
		return t, nil
	case resting && t.ok:
		return t, nil
	case resting:
		return nil, errors.New("directory tree: the last fetch failed moments ago")
	}
	ch := r.flight.DoChan(flightKey(a.ID, key), func() (any, error) {
		// The fetch serves every waiter and the next sign-ins: one caller giving up must not cancel it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), treeFetchTimeout)
		defer cancel()
		return r.fetch(fctx, a, cfg, key, t)
	})
	if t != nil && t.ok {
		return t, nil // stale but usable; the fetch above replaces it for the next caller
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*tree), nil
	}
}

func (r *Refresher) ttl() time.Duration {
	if r.TreeTTL > 0 {
		return r.TreeTTL
	}
	return DefaultTreeTTL
}

// fetch reads the tree from WeCom and records it. On failure, prev (if any) stays in use and the
// failure time is remembered so WeCom is not asked again at once.
func (r *Refresher) fetch(ctx context.Context, a models.Authenticator, cfg wecom.Config, key string, prev *tree) (*tree, error) {
	t, err := r.read(ctx, cfg)
	if err != nil {
		failed := &tree{key: key, failedAt: r.Now()}
		if prev != nil && prev.ok {
			cp := *prev
			cp.failedAt = failed.failedAt
			failed = &cp
		}
		r.store(a.ID, failed)
		r.Log.Warn("fetch the WeCom department and tag tree", "authenticator", a.Name, "err", err)
		return nil, fmt.Errorf("directory tree of %q: %w", a.Name, err)
	}
	t.key, t.fetched, t.ok = key, r.Now(), true
	depts := make([]models.DirectoryDepartment, 0, len(t.parent))
	for id, p := range t.parent {
		depts = append(depts, models.DirectoryDepartment{DeptID: id, ParentID: p, Name: t.names[id]})
	}
	tags := make([]models.DirectoryTag, 0, len(t.tagNames))
	for id, name := range t.tagNames {
		tags = append(tags, models.DirectoryTag{TagID: id, Name: name})
	}
	slices.SortFunc(depts, func(x, y models.DirectoryDepartment) int { return int(x.DeptID - y.DeptID) })
	slices.SortFunc(tags, func(x, y models.DirectoryTag) int { return int(x.TagID - y.TagID) })
	if err := r.Store.ReplaceDirectoryTree(ctx, a.ID, depts, tags, t.fetched); err != nil {
		// The tree is still right for this process; the pages show the last recorded names.
		r.Log.Error("record the WeCom department and tag tree", "authenticator", a.Name, "err", err)
	}
	// In use only once recorded, so the names on the pages are never older than the tree in use.
	r.store(a.ID, t)
	return t, nil
}

func (r *Refresher) store(id int64, t *tree) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trees == nil {
		r.trees = make(map[int64]*tree)
	}
	r.trees[id] = t
}

// Forget drops an authenticator's cached tree (its settings changed, or a test wants a fresh fetch);
// the next refresh fetches anew rather than join a fetch under way.
func (r *Refresher) Forget(authenticatorID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.trees[authenticatorID]; t != nil {
		r.flight.Forget(flightKey(authenticatorID, t.key))
	}
	delete(r.trees, authenticatorID)
}

// flightKey names the fetch of an authenticator's tree with one app's settings.
func flightKey(authenticatorID int64, cacheKey string) string {
	return strconv.FormatInt(authenticatorID, 10) + " " + cacheKey
}

// read calls WeCom: simplelist once, then department/get for each visible department and tag/get
// for each tag, a few at a time. A department or tag that vanished between the calls (60003, 60011,
// 40068) is kept without a name or left out, not an error.
func (r *Refresher) read(ctx context.Context, cfg wecom.Config) (*tree, error) {
	refs, err := r.WeCom.DepartmentIDs(ctx, cfg, 0)
	if err != nil {
		return nil, err
	}
	tags, err := r.WeCom.Tags(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := &tree{parent: make(map[int64]int64, len(refs)), names: make(map[int64]string, len(refs)),
		tagNames: make(map[int64]string, len(tags)), tagsOf: make(map[string][]int64)}
	for _, d := range refs {
		t.parent[d.ID] = d.ParentID
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(treeParallel)
	for _, d := range refs {
		g.Go(func() error {
			dept, err := r.WeCom.Department(gctx, cfg, d.ID)
			if code := wecom.CodeOf(err); code == 60003 || code == 60011 || code == 60123 {
				return nil
			} else if err != nil {
				return err
			}
			mu.Lock()
			t.names[d.ID] = dept.Name
			mu.Unlock()
			return nil
		})
	}
	for _, tag := range tags {
		g.Go(func() error {
			tm, err := r.WeCom.TagMembers(gctx, cfg, tag.ID)
			if wecom.CodeOf(err) == 40068 {
				return nil
			} else if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			t.tagNames[tag.ID] = tag.Name
			for _, u := range tm.Users {
				k := strings.ToLower(u.UserID)
				t.tagsOf[k] = append(t.tagsOf[k], tag.ID)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for k := range t.tagsOf {
		slices.Sort(t.tagsOf[k])
	}
	return t, nil
}

// ancestry is the member's own departments and every ancestor the app may see: the walk up from
// each stops at the root (1) or at a parent missing from the visible list, whose name is unknowable.
// Own departments come first, in WeCom's order, then ancestors as found.
func (t *tree) ancestry(own []int64) []int64 {
	out := slices.Clone(own)
	if out == nil {
		out = []int64{}
	}
	for _, id := range own {
		cur := id
		for range maxWalk {
			if cur == 1 {
				break
			}
			p, ok := t.parent[cur]
			if !ok || p == 0 {
				break
			}
			if _, visible := t.parent[p]; !visible {
				break // the parent is outside the visible range
			}
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
			cur = p
		}
	}
	return out
}

// namesOf names departments for the audit log; an unnamed one keeps its id.
func (t *tree) namesOf(ids []int64) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if n := t.names[id]; n != "" {
			out = append(out, n)
		} else {
			out = append(out, "#"+strconv.FormatInt(id, 10))
		}
	}
	return out
}

func sameSet(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
