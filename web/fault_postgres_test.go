package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// Budgets of DESIGN.md §8 for a PostgreSQL restart.
const (
	pgAnswerBudget  = 2 * time.Second // no answer, during the outage or not, takes longer
	pgRecoverBudget = 5 * time.Second // sign-ins work again within this of the database being back
	pgOutage        = 3 * time.Second
	msgUnavailable  = "Gatehouse cannot reach its database right now"
)

// TestFaultPostgresRestart stops a private PostgreSQL cluster under a bounded load of password and
// WeCom sign-ins (first sign-ins with auto-signup: a user and its binding per sign-in), keeps the load
// on for 3 s, starts the cluster again and checks: every answer during the outage is the translated
// 503 page, none is a 500 and none takes over 2 s; both kinds of sign-in work again within 5 s of
// the database; and no row was half-written (a user without its binding, a binding or session
// without its user).
func TestFaultPostgresRestart(t *testing.T) {
	timingTest(t)
	pg, store := privateStore(t)

	sim, simSrv := wecomtest.NewServer(t)
	app := webtest.NewOnStore(t, store, webtest.WithWeCom(simSrv.URL), webtest.WithThrottle(auth.Throttle{Window: time.Minute, PerAccount: 1 << 30, PerIP: 1 << 30}))
	host := strings.TrimPrefix(app.URL(), "http://")
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: []string{host}, Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	const members = 2000
	for i := range members {
		if err := sim.AddMember(corpID, wecomtest.Member{UserID: fmt.Sprintf("m%05d", i), Name: fmt.Sprintf("Member %d", i), Mobile: fmt.Sprintf("139%08d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret, AutoSignup: true})
	app.CreateUser("pat", "pat-password-123", false, "")

	l := &pgLoad{app: app.URL()}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var nextMember atomic.Int64
	// One password worker (bcrypt is CPU-bound: more would time the CPU, not the database) and two
	// WeCom workers.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if w == 0 {
					l.passwordSignIn(ctx)
				} else {
					l.wecomSignIn(ctx, fmt.Sprintf("m%05d", nextMember.Add(1)-1))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	l.mark("stopping")
	pg.ctl(t, "stop", "-m", "fast", "-w")
	down := l.mark("down")
	time.Sleep(pgOutage)
	starting := l.mark("starting")
	pg.ctl(t, "start", "-w", "-t", "30", "-l", pg.log, "-o", pg.opts)
	up := l.mark("up")
	deadline := time.Now().Add(pgRecoverBudget + time.Second)
	for time.Now().Before(deadline) && (l.firstOK("password", down).IsZero() || l.firstOK("wecom", down).IsZero()) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	wg.Wait()
	firsts := map[string]time.Time{"password": l.firstOK("password", down), "wecom": l.firstOK("wecom", down)}

	l.mu.Lock()
	defer l.mu.Unlock()
	var during, over, five int
	for _, a := range l.answers {
		if a.status == http.StatusInternalServerError {
			five++
			t.Errorf("500 at %s %s (%s after the stop)", a.kind, a.path, a.at.Sub(down).Round(time.Millisecond))
		}
		if a.took > pgAnswerBudget || a.err != nil {
			over++
			t.Errorf("%s %s: %v after %v, want an answer within %v", a.kind, a.path, a.err, a.took.Round(time.Millisecond), pgAnswerBudget)
		}
		// Requests sent after the server was down and answered before it was started again (pg_ctl
		// start -w returns some time after the server accepts connections, so answers between
		// "starting" and "up" may rightly be successes).
		if a.start.After(down) && a.at.Before(starting) && a.final {
			during++
			if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, msgUnavailable) {
				t.Errorf("%s %s during the outage: %d %.200q, want the 503 unavailable page", a.kind, a.path, a.status, a.body)
			}
		}
	}
	if during < 10 {
		t.Errorf("only %d sign-ins during the outage: the load did not reach it", during)
	}
	for _, kind := range []string{"password", "wecom"} {
		first := firsts[kind]
		if first.IsZero() || first.Sub(up) > pgRecoverBudget {
			t.Errorf("%s sign-in: first success %v after the database was back, want within %v", kind, first.Sub(up), pgRecoverBudget)
		}
		t.Logf("%s sign-in: first success %v after the database was back", kind, first.Sub(up).Round(time.Millisecond))
	}
	t.Logf("%d answers (%d final answers during the %v outage), %d over %v, %d 500s; slowest %v; timeline %s",
		len(l.answers), during, pgOutage, over, pgAnswerBudget, five, l.slowest(), l.timeline())

	assertNoHalfWrittenRows(t, store)
	logDatabaseErrors(t, app.Logs())
	ok, wecomOK := l.count("password"), l.count("wecom")
	if ok == 0 || wecomOK == 0 {
		t.Errorf("successful sign-ins: %d password, %d WeCom; want some of each", ok, wecomOK)
	}
}

// logDatabaseErrors lists the distinct database errors the server met, for the test's log.
func logDatabaseErrors(t *testing.T, logs string) {
	seen := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		if i := strings.Index(line, "err="); i >= 0 && (strings.Contains(line, "unavailable") || strings.Contains(line, "level=ERROR")) {
			msg := line[i:]
			if len(msg) > 160 {
				msg = msg[:160]
			}
			seen[msg]++
		}
	}
	for msg, n := range seen {
		t.Logf("%4d× %s", n, msg)
	}
}

// assertNoHalfWrittenRows checks what a sign-in interrupted by the outage could have left behind.
func assertNoHalfWrittenRows(t *testing.T, store *models.Store) {
	t.Helper()
	checks := []struct{ name, query string }{
		{"user created by a WeCom sign-in without its binding", `SELECT count(*) FROM users u WHERE u.password_hash IS NULL
			AND NOT EXISTS (SELECT 1 FROM user_authenticators b WHERE b.user_id = u.id)`},
		{"binding without its user", `SELECT count(*) FROM user_authenticators b WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = b.user_id)`},
		{"session without its user", `SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)`},
		{"user with two bindings to one authenticator", `SELECT count(*) FROM (SELECT user_id FROM user_authenticators GROUP BY user_id, authenticator_id HAVING count(*) > 1) d`},
	}
	for _, c := range checks {
		var n int64
		if err := store.DB().Raw(c.query).Scan(&n).Error; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != 0 {
			t.Errorf("%d rows: %s", n, c.name)
		}
	}
	var users, bindings int64
	store.DB().Raw(`SELECT count(*) FROM users WHERE password_hash IS NULL`).Scan(&users)
	store.DB().Raw(`SELECT count(*) FROM user_authenticators`).Scan(&bindings)
	t.Logf("after the restart: %d users made by WeCom sign-ins, %d bindings", users, bindings)
}

// pgLoad sends sign-ins and records every answer Gatehouse gave, with its timing.
type pgLoad struct {
	app string

	mu      sync.Mutex
	answers []pgAnswer
	marks   []pgMark
}

type pgAnswer struct {
	kind, path string
	start, at  time.Time
	took       time.Duration
	status     int
	body       string
	err        error
	final      bool // the sign-in's last answer (its result), not a redirect on the way
}

type pgMark struct {
	name string
	at   time.Time
}

func (l *pgLoad) mark(name string) time.Time {
	now := time.Now()
	l.mu.Lock()
	l.marks = append(l.marks, pgMark{name, now})
	l.mu.Unlock()
	return now
}

func (l *pgLoad) timeline() string {
	var parts []string
	for _, m := range l.marks {
		parts = append(parts, fmt.Sprintf("%s %s", m.name, m.at.Format("15:04:05.000")))
	}
	return strings.Join(parts, ", ")
}

// slowest describes the slowest answer: how long, what, and when relative to the marks.
func (l *pgLoad) slowest() string {
	var worst pgAnswer
	for _, a := range l.answers {
		if a.took > worst.took {
			worst = a
		}
	}
	return fmt.Sprintf("%v (%s %s → %d, sent %s)", worst.took.Round(time.Millisecond), worst.kind, worst.path, worst.status, worst.start.Format("15:04:05.000"))
}

// firstOK is when the first sign-in of kind sent after since succeeded (its answer came), or zero.
func (l *pgLoad) firstOK(kind string, since time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var oks []time.Time
	for _, a := range l.answers {
		if a.kind == kind && a.final && a.status == http.StatusSeeOther && a.start.After(since) {
			oks = append(oks, a.at)
		}
	}
	if len(oks) == 0 {
		return time.Time{}
	}
	sort.Slice(oks, func(i, j int) bool { return oks[i].Before(oks[j]) })
	return oks[0]
}

func (l *pgLoad) count(kind string) int {
	n := 0
	for _, a := range l.answers {
		if a.kind == kind && a.final && a.status == http.StatusSeeOther {
			n++
		}
	}
	return n
}

func newJar() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send runs one request; answers from Gatehouse (not the simulator) are recorded.
func (l *pgLoad) send(ctx context.Context, c *http.Client, kind string, req *http.Request, final func(*http.Response) bool) (*http.Response, bool) {
	start := time.Now()
	resp, err := c.Do(req.WithContext(ctx))
	a := pgAnswer{kind: kind, path: req.URL.Path, start: start, at: time.Now(), err: err}
	a.took = a.at.Sub(start)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, string(body)
		a.final = final(resp)
	}
	if ctx.Err() != nil {
		return nil, false // the load ended mid-request: not an answer
	}
	if strings.HasPrefix(req.URL.String(), l.app) {
		l.mu.Lock()
		l.answers = append(l.answers, a)
		l.mu.Unlock()
	}
	return resp, err == nil
}

func (l *pgLoad) passwordSignIn(ctx context.Context) {
	form := url.Values{"username": {"pat"}, "password": {"pat-password-123"}}
	req, _ := http.NewRequest(http.MethodPost, l.app+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", l.app)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	l.send(ctx, newJar(), "password", req, func(*http.Response) bool { return true })
}

// wecomSignIn is a first sign-in from inside the WeCom app: start → simulator (automatic consent) →
// callback, where auto-signup creates the user and its binding.
func (l *pgLoad) wecomSignIn(ctx context.Context, member string) {
	c := newJar()
	target := l.app + "/auth/wecom/corp/start"
	for range 6 {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("User-Agent", wecom.UserAgentIOS)
		req.Header.Set(wecomtest.MemberHeader, member)
		resp, ok := l.send(ctx, c, "wecom", req, func(r *http.Response) bool {
			return r.StatusCode < 300 || r.StatusCode >= 400 || strings.Contains(req.URL.Path, "/callback")
		})
		if !ok || resp.StatusCode < 300 || resp.StatusCode >= 400 || strings.Contains(req.URL.Path, "/callback") {
			return
		}
		next, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return
		}
		target = next.String()
	}
}

// privatePostgres is a PostgreSQL cluster of the test's own, on a free loopback port.
type privatePostgres struct {
	bin, dir, data, log, opts, url string
}

// startPrivatePostgres initialises and starts a throwaway cluster (trust auth, loopback only), run as
// the postgres OS user when the test runs as root. Missing binaries skip the test, or fail it under CI.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are missing")
		}
		t.Skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are missing")
	}
	sort.Strings(bins)
	pg := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "gatehouse-pgfault-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir, pg.data, pg.log = dir, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port := freeLoopbackPort(t)
	pg.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", port, dir)
	pg.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	pg.run(t, "initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync")
	pg.ctl(t, "start", "-w", "-t", "30", "-l", pg.log, "-o", pg.opts)
	t.Cleanup(func() {
		cmd := pg.command("pg_ctl", "stop", "-D", pg.data, "-m", "immediate", "-w")
		cmd.Run()
	})
	return pg
}

func (pg *privatePostgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (pg *privatePostgres) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := pg.command(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(pg.log)
		t.Fatalf("%s %v: %v\n%s\n%s", name, args, err, out, log)
	}
}

// ctl runs pg_ctl on the cluster.
func (pg *privatePostgres) ctl(t *testing.T, args ...string) {
	t.Helper()
	pg.run(t, "pg_ctl", append([]string{args[0], "-D", pg.data}, args[1:]...)...)
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestFaultPostgresFrozen: a PostgreSQL that stops answering without closing its connections (every
// process of the cluster stopped with SIGSTOP: what a frozen host or a cut network path looks like)
// does not hold requests for good: each ends as the 503 page at the request deadline, and sign-ins
// work again within 5 s of the server resuming.
func TestFaultPostgresFrozen(t *testing.T) {
	timingTest(t)
	pg, store := privateStore(t)
	const deadline = 1500 * time.Millisecond
	app := webtest.NewOnStore(t, store, func(_ *web.Config, o *web.Options) { o.RequestTimeout = deadline })
	app.CreateUser("pat", "pat-password-123", false, "")
	member := app.Client()
	member.SignIn("pat", "pat-password-123")

	pids := pg.processes(t)
	signal := func(sig string) {
		for _, pid := range pids {
			exec.Command("kill", "-"+sig, strconv.Itoa(pid)).Run()
		}
	}
	t.Cleanup(func() { signal("CONT") }) // before the cluster is stopped, whatever happens
	signal("STOP")
	for _, req := range []struct {
		name string
		do   func() *webtest.Response
	}{
		{"password sign-in", func() *webtest.Response {
			return app.Client().Post("/signin", url.Values{"username": {"pat"}, "password": {"pat-password-123"}})
		}},
		{"page with a session", func() *webtest.Response { return member.Get("/account") }},
		{"password sign-in again", func() *webtest.Response {
			return app.Client().Post("/signin", url.Values{"username": {"pat"}, "password": {"pat-password-123"}})
		}},
	} {
		start := time.Now()
		r := req.do()
		took := time.Since(start)
		t.Logf("%s with the database frozen: %d after %v", req.name, r.StatusCode, took.Round(time.Millisecond))
		if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Body, msgUnavailable) {
			t.Errorf("%s with the database frozen: %d, want the 503 unavailable page; %.300s", req.name, r.StatusCode, r.Body)
		}
		if took > deadline+time.Second {
			t.Errorf("%s with the database frozen took %v, want about the %v request deadline", req.name, took, deadline)
		}
	}
	signal("CONT")
	if t.Failed() {
		t.Logf("server log:\n%s", grepLines(app.Logs(), "level=ERROR"))
	}
	resumed := time.Now()
	for {
		r := app.Client().Post("/signin", url.Values{"username": {"pat"}, "password": {"pat-password-123"}})
		if r.StatusCode == http.StatusSeeOther {
			t.Logf("first sign-in %v after the database resumed", time.Since(resumed).Round(time.Millisecond))
			break
		}
		if time.Since(resumed) > pgRecoverBudget {
			t.Fatalf("no successful sign-in within %v of the database resuming (last: %d)", pgRecoverBudget, r.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := member.Get("/account"); r.StatusCode != http.StatusOK {
		t.Errorf("session after the database resumed: %d, want 200", r.StatusCode)
	}
}

// processes returns the cluster's postmaster and its children, read from postmaster.pid and /proc.
func (pg *privatePostgres) processes(t *testing.T) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{master}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			if pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat")); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// privateStore starts a private PostgreSQL cluster (skipping without TEST_DATABASE_URL) and opens a
// migrated store on it.
func privateStore(t *testing.T) (*privatePostgres, *models.Store) {
	t.Helper()
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("TEST_DATABASE_URL is not set: PostgreSQL fault tests are off")
	}
	pg := startPrivatePostgres(t)
	store, err := models.Open(models.Options{DatabaseURL: pg.url, MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return pg, store
}
