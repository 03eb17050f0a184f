package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Targets of DESIGN.md §8 for memory.
const (
	memorySessions = 1000
	memoryMaxRSS   = 64 << 20
	// memoryAttackSlack is how much the resident set may stay above its pre-attack level once the
	// attacks are over and the runtime had a moment to return what it freed.
	memoryAttackSlack = 8 << 20
	// memorySoakSpread is the largest max−min of the soak's samples that still counts as flat.
	memorySoakSpread = 8 << 20
	soakInterval     = 30 * time.Second
)

// memoryScenario runs `gatehouse serve` as a separate process (the binary built from this module), so
// that its resident set is the server's alone: it signs in 1,000 sessions, reads VmRSS, sends the
// oversized-input attacks, reads VmRSS again and, with -soak, samples it every 30 s under a light
// load. It runs on SQLite and, when a PostgreSQL URL is known, on PostgreSQL too (only PostgreSQL
// with -db postgres); the soak runs on the first database only.
func memoryScenario(ctx context.Context, o Options) (Result, error) {
	dir, err := os.MkdirTemp("", "gatehouse-memory-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gatehouse")
	fmt.Fprintln(o.Progress, "memory: building the gatehouse binary")
	if err := buildGatehouse(ctx, bin); err != nil {
		return Result{}, err
	}
	dbs := []string{o.DB}
	if o.DB == "sqlite" && o.DatabaseURL != "" {
		dbs = append(dbs, "postgres")
	}
	res := NewResult("memory", o)
	res.DB = strings.Join(dbs, "+")
	for i, db := range dbs {
		soak := time.Duration(0)
		if i == 0 {
			soak = o.Soak
		}
		if err := memoryRun(ctx, o, bin, db, soak, &res); err != nil {
			return res, fmt.Errorf("%s: %w", db, err)
		}
	}
	return res, nil
}

// buildGatehouse builds the module's main package (the directory holding go.mod) into bin.
func buildGatehouse(ctx context.Context, bin string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("find the module root (run from inside the module): %v", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, msg)
	}
	return nil
}

// memoryRun measures one database.
func memoryRun(ctx context.Context, o Options, bin, db string, soak time.Duration, res *Result) error {
	p, err := startProcess(ctx, o, bin, db)
	if err != nil {
		return err
	}
	defer p.Stop()
	idle, err := p.RSS()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "memory %s: idle %s; signing in %d sessions\n", db, mib(idle), memorySessions)
	clients, err := p.signInMany(ctx, memorySessions)
	if err != nil {
		return err
	}
	// Every session is used once more, so each is active (last seen now) when the resident set is read.
	if err := p.touchAll(ctx, clients); err != nil {
		return err
	}
	atSessions, err := p.settledRSS()
	if err != nil {
		return err
	}
	res.AddCheck(fmt.Sprintf("%s: RSS at %d active sessions", db, memorySessions), "< "+mib(memoryMaxRSS), mib(atSessions), atSessions < memoryMaxRSS)

	fmt.Fprintf(o.Progress, "memory %s: %s at %d sessions; running the oversized-input attacks\n", db, mib(atSessions), memorySessions)
	for _, a := range memoryAttacks() {
		before, _ := p.RSS()
		start := time.Now()
		statuses, err := a.run(ctx, p.url)
		if err != nil {
			return fmt.Errorf("attack %s: %w", a.name, err)
		}
		peak, _ := p.RSS()
		res.Notes = append(res.Notes, fmt.Sprintf("%s: attack %s: RSS %s → %s right after (%s), answers %s",
			db, a.name, mib(before), mib(peak), time.Since(start).Round(time.Millisecond), statuses))
	}
	after, err := p.settledRSS()
	if err != nil {
		return err
	}
	// The runtime hands freed pages back to the OS gradually; a later reading shows whether the rest goes.
	time.Sleep(27 * time.Second)
	later, err := p.RSS()
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%s: RSS after the attacks: %s at 3 s, %s at 30 s", db, mib(after), mib(later)))
	after = later
	res.AddCheck(fmt.Sprintf("%s: RSS after the attacks vs before", db), "≤ +"+mib(memoryAttackSlack),
		fmt.Sprintf("%s → %s (%+.1f MiB)", mib(atSessions), mib(after), float64(after-atSessions)/(1<<20)), after <= atSessions+memoryAttackSlack)
	if err := p.touchAll(ctx, clients[:10]); err != nil {
		return fmt.Errorf("sessions after the attacks: %w", err)
	}
	if soak > 0 {
		return p.soak(ctx, o, db, soak, clients, res)
	}
	return nil
}

// process is a running `gatehouse serve`.
type process struct {
	cmd  *exec.Cmd
	url  string
	drop func()
	done chan error
}

// startProcess starts the binary on a free loopback port with a fresh database and waits for /readyz.
func startProcess(ctx context.Context, o Options, bin, db string) (*process, error) {
	dataDir, err := os.MkdirTemp("", "gatehouse-memory-data-")
	if err != nil {
		return nil, err
	}
	p := &process{drop: func() { os.RemoveAll(dataDir) }}
	env := append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+dataDir,
		"GATEHOUSE_ADMIN_USERNAME="+benchAdmin,
		"GATEHOUSE_ADMIN_PASSWORD="+benchPassword,
		"GATEHOUSE_SECRET_KEY="+rand.Text()+rand.Text(),
		"DATABASE_URL=",
		"GATEHOUSE_DEMO=",
	)
	if db == "postgres" {
		dsn, drop, err := freshSchema(o.DatabaseURL)
		if err != nil {
			p.drop()
			return nil, err
		}
		prev := p.drop
		p.drop = func() { drop(); prev() }
		env = append(env, "DATABASE_URL="+dsn)
	}
	port, err := freePort()
	if err != nil {
		p.drop()
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p.url = "http://" + addr
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = append(env, "GATEHOUSE_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, io.Discard
	if err := p.cmd.Start(); err != nil {
		p.drop()
		return nil, err
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(p.url + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.drop()
			return nil, fmt.Errorf("gatehouse serve exited before it was ready: %v", err)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("gatehouse serve not ready within 30 s")
		}
	}
}

// Stop ends the process (SIGINT: a graceful shutdown) and removes its database.
func (p *process) Stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.drop()
}

// RSS reads the process's resident set (VmRSS) from /proc.
func (p *process) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS (Linux only): %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// settledRSS reads the resident set after a pause, so that a request's garbage has been collected and
// the runtime's scavenger had a moment to return freed pages: what stays is what the server keeps.
func (p *process) settledRSS() (int64, error) {
	time.Sleep(3 * time.Second)
	return p.RSS()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// jarClient is a browser-like client of its own: cookies, no redirects followed.
func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// postForm posts a same-origin form and drains the answer.
func postForm(ctx context.Context, c *http.Client, base, path string, form url.Values, header http.Header) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// signInMany signs the admin in n times with the password, each time in a new browser: n sessions.
// A few workers at once, since each sign-in spends ~50 ms of bcrypt.
func (p *process) signInMany(ctx context.Context, n int) ([]*http.Client, error) {
	clients := make([]*http.Client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c := jarClient()
				status, err := postForm(ctx, c, p.url, "/signin", url.Values{"username": {benchAdmin}, "password": {benchPassword}}, nil)
				if err == nil && status != http.StatusSeeOther {
					err = fmt.Errorf("sign-in %d: status %d", i, status)
				}
				if err != nil {
					errs <- err
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	return clients, <-errs
}

// touchAll loads /account once with every session.
func (p *process) touchAll(ctx context.Context, clients []*http.Client) error {
	for i, c := range clients {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/account", nil)
		status, err := do(c, req)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("GET /account with session %d: status %d", i, status)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// memoryAttack is one oversized-input attack of DESIGN.md §8, sent from a few connections at once.
type memoryAttack struct {
	name  string
	times int
	send  func(ctx context.Context, c *http.Client, base string) (int, error)
}

func memoryAttacks() []memoryAttack {
	bigLang := strings.Repeat("en-GB;q=0.9,", (1<<20)/12)[:1<<20-1024] // just under Go's 1 MiB header limit
	return []memoryAttack{
		{name: "1 MB Accept-Language on GET /signin ×60", times: 60, send: func(ctx context.Context, c *http.Client, base string) (int, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/signin", nil)
			req.Header.Set("Accept-Language", bigLang)
			return do(c, req)
		}},
		{name: "10 MB multipart body to POST /signin ×20", times: 20, send: func(ctx context.Context, c *http.Client, base string) (int, error) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			mw.WriteField("username", benchAdmin)
			fw, _ := mw.CreateFormFile("file", "big.bin")
			fw.Write(bytes.Repeat([]byte("A"), 10<<20))
			mw.Close()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signin", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Origin", base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			return do(c, req)
		}},
		{name: "10,000-character usernames on POST /signin ×200", times: 200, send: func(ctx context.Context, c *http.Client, base string) (int, error) {
			// A new name each time, so nothing keyed by the username (a throttle, a cache) stays small by reuse.
			name := strings.Repeat("u", 9990) + fmt.Sprintf("%010d", randInt())
			return postForm(ctx, c, base, "/signin", url.Values{"username": {name}, "password": {"wrong-password"}}, nil)
		}},
	}
}

func randInt() int64 {
	b := make([]byte, 4)
	rand.Read(b)
	return int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
}

// run sends the attack times, from 4 connections, and returns the answers by status ("431×60").
func (a memoryAttack) run(ctx context.Context, base string) (string, error) {
	var mu sync.Mutex
	counts := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for next.Add(1) <= int64(a.times) {
				status, err := a.send(ctx, c, base)
				key := strconv.Itoa(status)
				if err != nil {
					key = "transport error"
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s×%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " "), ctx.Err()
}

// soak samples the resident set every 30 s for d under a light, steady load (two workers: sign-in
// page, account page of an existing session, and a password sign-in now and then, with pauses), and
// reports the curve, its median and its max−min spread.
func (p *process) soak(ctx context.Context, o Options, db string, d time.Duration, clients []*http.Client, res *Result) error {
	fmt.Fprintf(o.Progress, "memory %s: soak for %s, sampling RSS every %s\n", db, d, soakInterval)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var requests, failures, throttled atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			anon := &http.Client{Timeout: 10 * time.Second}
			for i := 0; lctx.Err() == nil; i++ {
				var status, want int
				var err error
				switch i % 10 {
				case 0:
					status, err = postForm(lctx, jarClient(), p.url, "/signin", url.Values{"username": {benchAdmin}, "password": {benchPassword}}, nil)
					want = http.StatusSeeOther
				case 1, 2, 3, 4:
					req, _ := http.NewRequestWithContext(lctx, http.MethodGet, p.url+"/signin", nil)
					status, err = do(anon, req)
					want = http.StatusOK
				default:
					req, _ := http.NewRequestWithContext(lctx, http.MethodGet, p.url+"/account", nil)
					status, err = do(clients[(w*7919+i)%len(clients)], req)
					want = http.StatusOK
				}
				if lctx.Err() != nil {
					return
				}
				requests.Add(1)
				switch {
				case err == nil && status == http.StatusTooManyRequests && want == http.StatusSeeOther:
					// The attacks' wrong passwords throttle this IP for 15 minutes: a right answer too.
					throttled.Add(1)
				case err != nil || status != want:
					failures.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	start := time.Now()
	var curve []string
	var samples []int64
	sample := func() error {
		rss, err := p.RSS()
		if err != nil {
			return err
		}
		samples = append(samples, rss)
		curve = append(curve, fmt.Sprintf("%4.0fs %6.1f", time.Since(start).Seconds(), float64(rss)/(1<<20)))
		fmt.Fprintf(o.Progress, "memory %s: soak t=%s RSS %s\n", db, time.Since(start).Round(time.Second), mib(rss))
		return nil
	}
	if err := sample(); err != nil {
		return err
	}
	tick := time.NewTicker(soakInterval)
	defer tick.Stop()
	for time.Since(start) < d {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := sample(); err != nil {
				return err
			}
		}
	}
	stop()
	wg.Wait()
	// The first sample is taken right after the attacks, before the load made the runtime collect
	// their garbage: that residue is the attack check's business. Flatness is judged from 30 s on.
	steady := samples
	if len(samples) > 2 {
		steady = samples[1:]
	}
	sorted := slices.Sorted(slices.Values(steady))
	med, spread := sorted[len(sorted)/2], sorted[len(sorted)-1]-sorted[0]
	res.Notes = append(res.Notes, fmt.Sprintf("%s: soak curve (time since start, RSS MiB), %d requests, %d failed, %d password sign-ins throttled (429, expected after the attacks):\n      %s",
		db, requests.Load(), failures.Load(), throttled.Load(), strings.Join(curve, "\n      ")))
	res.AddCheck(fmt.Sprintf("%s: soak %s RSS flat from 30 s on (median %s)", db, d, mib(med)), "max−min ≤ "+mib(memorySoakSpread), mib(spread), spread <= memorySoakSpread)
	res.AddCheck(fmt.Sprintf("%s: soak requests failed", db), "0", fmt.Sprint(failures.Load()), failures.Load() == 0)
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
