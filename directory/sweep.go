package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gatehouse/models"
)

// MemberReader asks WeCom what it says of a member now. status is a models.Member* value
// (models.MemberUnavailable for 60111, 60011 and 40003); an error means WeCom gave no definite answer,
// and is ErrThrottled or ErrAppUnavailable when the whole app should wait.
type MemberReader interface {
	MemberStatus(ctx context.Context, a models.Authenticator, userid string) (status int, err error)
}

var (
	// ErrThrottled is WeCom refusing a call for its rate (45009) or concurrency (45033) limit.
	ErrThrottled = errors.New("wecom throttled the app")
	// ErrAppUnavailable means no call of the app can work now: its secret does not open, WeCom refuses
	// its settings, or calls to its corp are paused after repeated failures.
	ErrAppUnavailable = errors.New("the wecom app cannot be called now")
)

// What a swept member came to, for metrics.
const (
	SweepActive = "active" // active, and was not suspended
	SweepBack   = "back"   // active again: the suspension was lifted
	SweepLeft   = "left"   // gone: cut off by this round
	SweepGone   = "gone"   // gone, and already suspended before
	SweepError  = "error"  // WeCom gave no definite answer: nobody is cut off
)

// SweepObserver hears what the sweep does (Prometheus in production).
type SweepObserver interface {
	SweptMember(result string)
	SweepPaused(reason string)
	// SweepRound reports the newest finished round, whichever instance ran it.
	SweepRound(r models.DirectorySweepRound)
}

// Defaults of the sweep's pacing and lease. WeCom allows 2,000 user/get calls a minute and 30,000 an
// hour per corp by its older, lower figures (wecom-directory.md §7); 5 calls a second (300 a minute,
// 18,000 an hour) leaves most of that to sign-ins, which share the budget.
const (
	DefaultSweepRate  = 5.0
	DefaultSweepBurst = 5
	DefaultLeaseTTL   = 30 * time.Second
	// sweepPage is how many bindings one query reads.
	sweepPage = 200
	// firstBackoff is the first pause after 45009/45033: WeCom's minute window unblocks after about a
	// minute. Each pause in a row doubles it, up to maxBackoff (the hour window).
	firstBackoff = time.Minute
	maxBackoff   = time.Hour
	// sweepLease names the lease row.
	sweepLease = "directory-sweep"
)

// SweepOptions tune a Sweeper; the zero value gives the defaults.
type SweepOptions struct {
	// Rate is how many user/get calls a second the sweep makes per corp, Burst how many it may make at
	// once after a quiet spell.
	Rate  float64
	Burst int
	// LeaseTTL is how long the lease lasts unless renewed; it is renewed when a third has passed.
	LeaseTTL time.Duration
	// PageSize is how many bindings one query reads.
	PageSize int
	// Holder names this instance in the lease row (random when empty).
	Holder string
	// Now and Sleep are the clock (tests inject a fake one).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Observer hears every member and round (nil: nobody).
	Observer SweepObserver
}

// Sweeper re-reads every bound member of every enabled WeCom authenticator every interval (DESIGN.md
// §11, GATEHOUSE_DIRECTORY_SYNC): members WeCom reports gone are cut off, members active again let
// back. It is paced per corp, resumable (its progress lives in the database), and one instance of a
// fleet sweeps at a time (a lease row).
type Sweeper struct {
	store   *models.Store
	members *Members
	reader  MemberReader
	every   time.Duration
	log     *slog.Logger
	opts    SweepOptions

	mu         sync.Mutex // one Step at a time
	leaseUntil time.Time
	buckets    map[string]*bucket // per corp
}

// NewSweeper builds a sweeper that runs a round every interval (0: never).
func NewSweeper(store *models.Store, members *Members, reader MemberReader, every time.Duration, log *slog.Logger, opts SweepOptions) *Sweeper {
	if opts.Rate <= 0 {
		opts.Rate = DefaultSweepRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultSweepBurst
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.PageSize <= 0 {
		opts.PageSize = sweepPage
	}
	if opts.Holder == "" {
		// The host name tells an operator reading the lease row which instance sweeps; the random part
		// keeps two processes on one host apart.
		b := make([]byte, 6)
		rand.Read(b)
		host, _ := os.Hostname()
		opts.Holder = fmt.Sprintf("%.40s-%s", host, hex.EncodeToString(b))
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Now().UTC() }
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Sweeper{store: store, members: members, reader: reader, every: every, log: log, opts: opts, buckets: map[string]*bucket{}}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PollEvery is how often Run looks whether a round is due or unfinished: at most a minute, so a round
// paused by WeCom's limits, or left by an instance that stopped, goes on soon.
func (s *Sweeper) PollEvery() time.Duration { return min(s.every, time.Minute) }

// Run sweeps until ctx ends: at once, then at every tick (nil ticks: a ticker of PollEvery). It does
// nothing when the interval is 0.
func (s *Sweeper) Run(ctx context.Context, ticks <-chan time.Time) {
	if s.every <= 0 {
		return
	}
	if ticks == nil {
		t := time.NewTicker(s.PollEvery())
		defer t.Stop()
		ticks = t.C
	}
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("directory sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

// errLeaseLost stops a round whose lease another instance took (this one stalled past its expiry).
var errLeaseLost = errors.New("directory sweep: lease lost to another instance")

// Step does what is due now: nothing unless this instance gets the lease; then it continues the
// unfinished round or starts one when the last began an interval ago, and sweeps until the round is
// done, every corp left is paused by WeCom, or ctx ends.
func (s *Sweeper) Step(ctx context.Context) error {
	if s.every <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.observeLastRound(ctx)
	now := s.opts.Now()
	ok, err := s.store.AcquireLease(ctx, sweepLease, s.opts.Holder, now, now.Add(s.opts.LeaseTTL))
	if err != nil || !ok {
		return err
	}
	s.leaseUntil = now.Add(s.opts.LeaseTTL)
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.ReleaseLease(ctx, sweepLease, s.opts.Holder); err != nil {
			s.log.Warn("directory sweep: release lease", "err", err)
		}
	}()
	round, due, err := s.round(ctx, now)
	if err != nil || !due {
		return err
	}
	list, err := s.store.EnabledAuthenticators(ctx)
	if err != nil {
		return err
	}
	// Corps WeCom asked to wait: its limits are per corp, so every authenticator of the corp waits.
	paused := map[string]bool{}
	waiting, err := s.store.PausedSweeps(ctx, now)
	if err != nil {
		return err
	}
	for _, w := range waiting {
		for _, a := range list {
			if a.Name == w.AuthenticatorName && a.IsWeCom() {
				paused[a.Options.CorpID] = true
			}
		}
	}
	done := true
	for _, a := range list {
		if !a.IsWeCom() {
			continue
		}
		finished, err := s.sweepAuthenticator(ctx, round, a, paused)
		if err != nil {
			return err
		}
		done = done && finished
	}
	if !done {
		return nil
	}
	end := s.opts.Now()
	if err := s.store.FinishSweepRound(ctx, round.ID, end); err != nil {
		return err
	}
	if r, err := s.store.LatestSweepRound(ctx); err == nil && r.ID == round.ID {
		round = r
	}
	s.log.Info("directory sweep round finished", "round", round.ID, "took", end.Sub(round.StartedAt).String(),
		"checked", round.MembersChecked, "left", round.MembersLeft, "back", round.MembersBack, "errors", round.MembersFailed)
	return nil
}

// round is the round to work on now: the unfinished one, or a new one when the last began an interval
// ago (or there was none). due is false when nothing is to be done yet.
func (s *Sweeper) round(ctx context.Context, now time.Time) (models.DirectorySweepRound, bool, error) {
	r, err := s.store.LatestSweepRound(ctx)
	switch {
	case errors.Is(err, models.ErrNotFound):
	case err != nil:
		return r, false, err
	case r.FinishedAt == nil:
		return r, true, nil
	case now.Before(r.StartedAt.Add(s.every)):
		return r, false, nil
	}
	r, err = s.store.StartSweepRound(ctx, now)
	if err == nil {
		s.log.Info("directory sweep round started", "round", r.ID)
	}
	return r, err == nil, err
}

// sweepAuthenticator reads the members of one authenticator from its cursor on. finished tells that
// every member was read; false with a nil error means WeCom asked the corp to wait.
func (s *Sweeper) sweepAuthenticator(ctx context.Context, round models.DirectorySweepRound, a models.Authenticator, paused map[string]bool) (bool, error) {
	cur, err := s.store.SweepCursor(ctx, a.ID, round.ID)
	if err != nil {
		return false, err
	}
	corp := a.Options.CorpID
	switch {
	case cur.Done:
		return true, nil
	case paused[corp]:
		return false, nil
	case cur.PausedUntil != nil && s.opts.Now().Before(*cur.PausedUntil):
		paused[corp] = true
		return false, nil
	}
	for {
		page, err := s.store.SweepMembers(ctx, a, cur.LastBindingID, s.opts.PageSize)
		if err != nil {
			return false, err
		}
		if len(page) == 0 {
			cur.Done, cur.PausedUntil, cur.Backoffs = true, nil, 0
			return true, s.store.SaveSweepCursor(ctx, cur)
		}
		for _, m := range page {
			if err := s.keepLease(ctx); err != nil {
				return false, err
			}
			if err := s.wait(ctx, corp); err != nil {
				return false, err
			}
			status, err := s.reader.MemberStatus(ctx, a, m.Subject)
			if err != nil && ctx.Err() != nil {
				return false, ctx.Err() // stopped mid-call: this member is read again on resuming
			}
			if errors.Is(err, ErrThrottled) || errors.Is(err, ErrAppUnavailable) {
				return false, s.pause(ctx, a, cur, err, paused)
			}
			// A decision WeCom made is applied and recorded even when shutdown began meanwhile.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			result, add, err := s.apply(wctx, a, m, status, err)
			if err == nil {
				cur.LastBindingID, cur.PausedUntil, cur.Backoffs = m.BindingID, nil, 0
				err = s.store.RecordSweptMember(wctx, cur, add)
			}
			cancel()
			if err != nil {
				return false, err
			}
			if s.opts.Observer != nil {
				s.opts.Observer.SweptMember(result)
			}
		}
	}
}

// apply acts on what WeCom said of one member. callErr is the call's failure, if any: it only counts.
func (s *Sweeper) apply(ctx context.Context, a models.Authenticator, m models.SweepMember, status int, callErr error) (string, models.SweepCounts, error) {
	fail := func(err error) (string, models.SweepCounts, error) {
		s.log.Warn("directory sweep: no answer for a member; nothing changed", "authenticator", a.Name, "userid", m.Subject, "err", err)
		return SweepError, models.SweepCounts{Failed: 1}, nil
	}
	if callErr != nil {
		return fail(callErr)
	}
	counts := models.SweepCounts{Checked: 1}
	switch status {
	case models.MemberActive, models.MemberNotActive:
		if !m.Suspended {
			return SweepActive, counts, nil
		}
		// The reader may have let the member back already (RefreshReader does): Back is then a no-op,
		// and the count follows what the round found at the start, suspended.
		if _, err := s.members.Back(ctx, a, m.Subject, SourceSweep); err != nil {
			return "", counts, err
		}
		counts.Back = 1
		return SweepBack, counts, nil
	case models.MemberDisabled, models.MemberLeft, models.MemberUnavailable:
		// As above: the reader may have cut the member off already; Left then changes nothing more.
		if _, err := s.members.Left(ctx, a, m.Subject, status, SourceSweep); err != nil {
			return "", counts, err
		}
		if !m.Suspended {
			counts.Left = 1
			return SweepLeft, counts, nil
		}
		return SweepGone, counts, nil
	default:
		return fail(fmt.Errorf("unknown member status %d", status))
	}
}

// pause stops the round for the authenticator's corp until WeCom's block should be over: a minute
// after the first refusal, doubling with each refusal in a row.
func (s *Sweeper) pause(ctx context.Context, a models.Authenticator, cur models.DirectorySweepCursor, cause error, paused map[string]bool) error {
	cur.Backoffs++
	wait := firstBackoff << min(cur.Backoffs-1, 6)
	wait = min(wait, maxBackoff)
	until := s.opts.Now().Add(wait)
	cur.PausedUntil = &until
	paused[a.Options.CorpID] = true
	reason := "throttled"
	if !errors.Is(cause, ErrThrottled) {
		reason = "unavailable"
	}
	s.log.Warn("directory sweep paused for a corp", "authenticator", a.Name, "corp_id", a.Options.CorpID, "reason", reason, "until", until, "err", cause)
	if s.opts.Observer != nil {
		s.opts.Observer.SweepPaused(reason)
	}
	return s.store.SaveSweepCursor(context.WithoutCancel(ctx), cur)
}

// keepLease renews the lease once a third of it has passed, and stops the round if another instance
// took it meanwhile.
func (s *Sweeper) keepLease(ctx context.Context) error {
	now := s.opts.Now()
	if s.leaseUntil.Sub(now) > s.opts.LeaseTTL*2/3 {
		return nil
	}
	ok, err := s.store.AcquireLease(ctx, sweepLease, s.opts.Holder, now, now.Add(s.opts.LeaseTTL))
	if err != nil {
		return err
	}
	if !ok {
		return errLeaseLost
	}
	s.leaseUntil = now.Add(s.opts.LeaseTTL)
	return nil
}

// bucket is a token bucket: Burst calls at once, then Rate a second.
type bucket struct {
	tokens float64
	last   time.Time
}

// wait takes a token of the corp's bucket, sleeping until one is there.
func (s *Sweeper) wait(ctx context.Context, corp string) error {
	b, ok := s.buckets[corp]
	if !ok {
		b = &bucket{tokens: float64(s.opts.Burst), last: s.opts.Now()}
		s.buckets[corp] = b
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.opts.Now()
		b.tokens = min(float64(s.opts.Burst), b.tokens+now.Sub(b.last).Seconds()*s.opts.Rate)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			return nil
		}
		need := time.Duration((1 - b.tokens) / s.opts.Rate * float64(time.Second))
		if err := s.opts.Sleep(ctx, max(need, time.Millisecond)); err != nil {
			return err
		}
	}
}

// observeLastRound tells the observer of the newest finished round, whichever instance ran it.
func (s *Sweeper) observeLastRound(ctx context.Context) {
	if s.opts.Observer == nil || ctx.Err() != nil {
		return
	}
	r, err := s.store.LastFinishedSweepRound(ctx)
	if err == nil {
		s.opts.Observer.SweepRound(r)
	}
}
