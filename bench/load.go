package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one timed operation of a closed-loop worker: usually one HTTP request, but a scenario may make
// several requests (a whole sign-in) and have them timed as one. It must read and close every body so
// the keep-alive connection is reused. Returning an error counts the operation as failed.
type Op func(ctx context.Context, c *http.Client) error

// TimedOp is an operation that times its own measured part: it returns the latency to record and the
// time its untimed setup took (reported separately, as "setup"), such as the /start request before a
// WeCom callback. Throughput still counts whole operations, setup included.
type TimedOp func(ctx context.Context, c *http.Client) (timed, setup time.Duration, err error)

// Target is one thing to measure: a name for the table and the operation its workers repeat.
type Target struct {
	Name string
	// Conns overrides Options.Conns for this target (0: use Options.Conns).
	Conns int
	Op    Op
	// Timed, if set, replaces Op: the operation reports which part of it is timed.
	Timed TimedOp
	// NewClient builds one worker's client (nil: newClient, keep-alive, no cookies, no redirects).
	NewClient func() *http.Client
}

// Load is one closed-loop run: Conns workers, each with its own client and connection, each sending
// its next request as soon as the previous one is answered, until Duration has passed or Requests
// operations have been started (whichever is set; Requests wins).
type Load struct {
	Conns     int
	Duration  time.Duration
	Requests  int
	Op        Op
	Timed     TimedOp // if set, replaces Op
	NewClient func() *http.Client
}

// Stats are the measurements of one run.
type Stats struct {
	Requests  int           `json:"requests"`
	Errors    int           `json:"errors"`
	FirstErr  string        `json:"first_error,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	CPUPerReq time.Duration `json:"cpu_per_req_ns"` // whole process (generator + servers), 0 if unknown
	AllocsReq float64       `json:"allocs_per_req"` // whole process (generator + servers)
	// SetupP50 and SetupP99 are the untimed setup part of a TimedOp (0 for a plain Op).
	SetupP50 time.Duration `json:"setup_p50_ns,omitempty"`
	SetupP99 time.Duration `json:"setup_p99_ns,omitempty"`
}

// newClient is a browser-less keep-alive client with its own transport, so every worker holds exactly
// one connection of its own.
func newClient() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// GetOK is the Op of a plain GET that must answer 200.
func GetOK(url string) Op {
	return func(ctx context.Context, c *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		return doStatus(c, req, http.StatusOK)
	}
}

// doStatus sends req, reads the answer to its end and checks its status.
func doStatus(c *http.Client, req *http.Request, want int) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL, resp.StatusCode, want)
	}
	return nil
}

// Run runs the load and returns its statistics. Each worker first makes one untimed operation (to open
// its connection), then all start together. Operations still running at the deadline are finished and
// counted; elapsed time runs until the last one ends.
func (l Load) Run(ctx context.Context) (Stats, error) {
	if l.Conns < 1 {
		return Stats{}, errors.New("need at least one connection")
	}
	if l.Duration <= 0 && l.Requests <= 0 {
		return Stats{}, errors.New("need a duration or a request count")
	}
	op := l.Timed
	if op == nil {
		op = func(ctx context.Context, c *http.Client) (time.Duration, time.Duration, error) {
			t0 := time.Now()
			err := l.Op(ctx, c)
			return time.Since(t0), 0, err
		}
	}
	mk := l.NewClient
	if mk == nil {
		mk = newClient
	}
	clients := make([]*http.Client, l.Conns)
	for i := range clients {
		clients[i] = mk()
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()

	// Prime: one connection per worker, concurrently, before the clock starts.
	var wg sync.WaitGroup
	primeErr := make([]error, l.Conns)
	for i, c := range clients {
		wg.Go(func() { _, _, primeErr[i] = op(ctx, c) })
	}
	wg.Wait()
	if err := errors.Join(primeErr...); err != nil {
		return Stats{}, fmt.Errorf("first request: %w", err)
	}

	runtime.GC() // start every run with the same clean heap, whatever ran before
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()

	var (
		started atomic.Int64
		errs    atomic.Int64
		errOnce sync.Once
		first   string
		lats    = make([][]time.Duration, l.Conns)
		setups  = make([][]time.Duration, l.Conns)
	)
	capHint := 1024
	if l.Requests > 0 {
		capHint = l.Requests/l.Conns + 1
	}
	start := time.Now()
	deadline := start.Add(l.Duration)
	for i, c := range clients {
		lat := make([]time.Duration, 0, capHint)
		var setup []time.Duration
		if l.Timed != nil {
			setup = make([]time.Duration, 0, capHint)
		}
		wg.Go(func() {
			defer func() { lats[i], setups[i] = lat, setup }()
			for ctx.Err() == nil {
				if l.Requests > 0 {
					if started.Add(1) > int64(l.Requests) {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				d, sd, err := op(ctx, c)
				lat = append(lat, d)
				if setup != nil {
					setup = append(setup, sd)
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { first = err.Error() })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}

	all := slices.Concat(lats...)
	slices.Sort(all)
	st := Stats{
		Requests: len(all),
		Errors:   int(errs.Load()),
		FirstErr: first,
		Elapsed:  elapsed,
		P50:      percentile(all, 50),
		P90:      percentile(all, 90),
		P99:      percentile(all, 99),
	}
	if l.Timed != nil {
		su := slices.Concat(setups...)
		slices.Sort(su)
		st.SetupP50, st.SetupP99 = percentile(su, 50), percentile(su, 99)
	}
	if len(all) > 0 {
		st.Max = all[len(all)-1]
		st.RPS = float64(len(all)) / elapsed.Seconds()
		st.AllocsReq = float64(ms1.Mallocs-ms0.Mallocs) / float64(len(all))
		if cpu0 >= 0 && cpu1 >= 0 {
			st.CPUPerReq = (cpu1 - cpu0) / time.Duration(len(all))
		}
	}
	return st, nil
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}
