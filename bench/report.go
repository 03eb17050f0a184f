package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Sample is one measured run of one target.
type Sample struct {
	Round  int    `json:"round"`
	Target string `json:"target"`
	Conns  int    `json:"conns"`
	Stats
}

// Summary is a target's medians over all rounds (errors are summed).
type Summary struct {
	Target    string        `json:"target"`
	Conns     int           `json:"conns"`
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"` // worst of all rounds
	CPUPerReq time.Duration `json:"cpu_per_req_ns"`
	AllocsReq float64       `json:"allocs_per_req"`
	SetupP50  time.Duration `json:"setup_p50_ns,omitempty"`
	SetupP99  time.Duration `json:"setup_p99_ns,omitempty"`
	Requests  int           `json:"requests"` // all rounds
	Errors    int           `json:"errors"`   // all rounds
}

// Ratio compares two targets: Value is the ratio of their medians, PerRound the ratio within each round
// (neighbouring runs, so a noisy stretch of the machine hits both), and PerRoundMedian their median.
type Ratio struct {
	Name           string    `json:"name"`
	Value          float64   `json:"value"`
	PerRound       []float64 `json:"per_round,omitempty"`
	PerRoundMedian float64   `json:"per_round_median,omitempty"`
}

// RPSRatio compares the req/s of target num to that of target den.
func (r *Result) RPSRatio(num, den string) Ratio {
	ra := Ratio{Name: num + "/" + den + " req/s"}
	if d := r.Find(den).RPS; d > 0 {
		ra.Value = r.Find(num).RPS / d
	}
	rps := map[[2]any]float64{}
	for _, s := range r.Samples {
		rps[[2]any{s.Round, s.Target}] = s.RPS
	}
	for round := 1; round <= r.Rounds; round++ {
		if d := rps[[2]any{round, den}]; d > 0 {
			ra.PerRound = append(ra.PerRound, rps[[2]any{round, num}]/d)
		}
	}
	if len(ra.PerRound) > 0 {
		v := slices.Sorted(slices.Values(ra.PerRound))
		ra.PerRoundMedian = v[len(v)/2]
		if len(v)%2 == 0 {
			ra.PerRoundMedian = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
	}
	return ra
}

// Check is one target of DESIGN.md §8, met or not.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Result is what a scenario reports.
type Result struct {
	Scenario   string    `json:"scenario"`
	DB         string    `json:"db"`
	Conns      int       `json:"conns"`
	Duration   string    `json:"duration"`
	Requests   int       `json:"requests_per_run,omitempty"`
	Rounds     int       `json:"rounds"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	GoVersion  string    `json:"go_version"`
	Samples    []Sample  `json:"samples"`
	Summary    []Summary `json:"summary"`
	Ratios     []Ratio   `json:"ratios"`
	Checks     []Check   `json:"checks"`
	Notes      []string  `json:"notes,omitempty"`
	Pass       bool      `json:"pass"`
}

// NewResult fills in what every scenario reports about the run.
func NewResult(scenario string, o Options) Result {
	r := Result{
		Scenario: scenario, DB: o.DB, Conns: o.Conns, Rounds: o.Rounds, Requests: o.Requests,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	if o.Requests <= 0 {
		r.Duration = o.Duration.String()
	}
	return r
}

// Measure warms every target up, then runs each once per round. The order alternates between rounds
// (A B, B A, A B, …) so that drift of the machine during the run falls on every target alike.
func Measure(ctx context.Context, o Options, targets []Target) ([]Sample, error) {
	load := func(t Target, d time.Duration, n int) Load {
		conns := t.Conns
		if conns == 0 {
			conns = o.Conns
		}
		return Load{Conns: conns, Duration: d, Requests: n, Op: t.Op, Timed: t.Timed, NewClient: t.NewClient}
	}
	if o.Warmup > 0 {
		for _, t := range targets {
			fmt.Fprintf(o.Progress, "warm-up  %-12s %v\n", t.Name, o.Warmup)
			st, err := load(t, o.Warmup, 0).Run(ctx)
			if err != nil {
				return nil, fmt.Errorf("warm-up of %s: %w", t.Name, err)
			}
			if st.Errors > 0 {
				return nil, fmt.Errorf("warm-up of %s: %d of %d requests failed, first: %s", t.Name, st.Errors, st.Requests, st.FirstErr)
			}
		}
	}
	profiling(true)
	defer profiling(false)
	var out []Sample
	for round := 1; round <= o.Rounds; round++ {
		order := slices.Clone(targets)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, t := range order {
			l := load(t, o.Duration, o.Requests)
			st, err := l.Run(ctx)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, t.Name, err)
			}
			fmt.Fprintf(o.Progress, "round %d  %-12s %9.0f req/s  p50 %-8s p99 %-8s errors %d\n",
				round, t.Name, st.RPS, ms(st.P50), ms(st.P99), st.Errors)
			out = append(out, Sample{Round: round, Target: t.Name, Conns: l.Conns, Stats: st})
		}
	}
	return out, nil
}

// Summarize takes each target's medians over its samples, in the order targets first appear.
func Summarize(samples []Sample) []Summary {
	var names []string
	by := map[string][]Sample{}
	for _, s := range samples {
		if _, ok := by[s.Target]; !ok {
			names = append(names, s.Target)
		}
		by[s.Target] = append(by[s.Target], s)
	}
	var out []Summary
	for _, n := range names {
		ss := by[n]
		sum := Summary{
			Target:    n,
			Conns:     ss[0].Conns,
			RPS:       median(ss, func(s Sample) float64 { return s.RPS }),
			P50:       medianDur(ss, func(s Sample) time.Duration { return s.P50 }),
			P90:       medianDur(ss, func(s Sample) time.Duration { return s.P90 }),
			P99:       medianDur(ss, func(s Sample) time.Duration { return s.P99 }),
			CPUPerReq: medianDur(ss, func(s Sample) time.Duration { return s.CPUPerReq }),
			AllocsReq: median(ss, func(s Sample) float64 { return s.AllocsReq }),
			SetupP50:  medianDur(ss, func(s Sample) time.Duration { return s.SetupP50 }),
			SetupP99:  medianDur(ss, func(s Sample) time.Duration { return s.SetupP99 }),
		}
		for _, s := range ss {
			sum.Max = max(sum.Max, s.Max)
			sum.Requests += s.Requests
			sum.Errors += s.Errors
		}
		out = append(out, sum)
	}
	return out
}

// Find returns the summary of a target.
func (r *Result) Find(target string) Summary {
	for _, s := range r.Summary {
		if s.Target == target {
			return s
		}
	}
	return Summary{Target: target}
}

// AddCheck records a check; the result passes only if every check does.
func (r *Result) AddCheck(name, want, got string, pass bool) {
	r.Checks = append(r.Checks, Check{Name: name, Want: want, Got: got, Pass: pass})
	r.Pass = true
	for _, c := range r.Checks {
		r.Pass = r.Pass && c.Pass
	}
}

// Print writes the per-round table, the medians, the ratios and the checks.
func (r *Result) Print(w io.Writer) {
	run := r.Duration
	if r.Requests > 0 {
		run = fmt.Sprintf("%d requests", r.Requests)
	}
	if len(r.Samples) == 0 {
		// A scenario without throughput rounds (memory) has only notes and checks.
		fmt.Fprintf(w, "\nscenario %s on %s, GOMAXPROCS=%d (%d CPUs), %s\n\n", r.Scenario, r.DB, r.GOMAXPROCS, r.NumCPU, r.GoVersion)
		r.printNotesAndChecks(w)
		return
	}
	fmt.Fprintf(w, "\nscenario %s on %s: %d connections, %d rounds of %s per target, GOMAXPROCS=%d (%d CPUs), %s\n",
		r.Scenario, r.DB, r.Conns, r.Rounds, run, r.GOMAXPROCS, r.NumCPU, r.GoVersion)
	fmt.Fprintln(w, "(load generator and servers share this process and its CPUs; cpu/req and allocs/req are whole-process)")
	fmt.Fprintln(w)
	// Scenarios whose operations time only part of themselves (TimedOp) get two more columns: the
	// untimed setup's p50 and p99.
	withSetup := false
	for _, s := range r.Samples {
		withSetup = withSetup || s.SetupP99 > 0
	}
	setupCols := func(p50, p99 time.Duration) string {
		if !withSetup {
			return ""
		}
		return ms(p50) + "\t" + ms(p99) + "\t"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "round\ttarget\tconns\treq/s\tp50\tp90\tp99\tmax\tcpu/req\tallocs/req\terrors\t"
	if withSetup {
		head += "setup p50\tsetup p99\t"
	}
	fmt.Fprintln(tw, head)
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%s\n",
			s.Round, s.Target, s.Conns, s.RPS, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), us(s.CPUPerReq), s.AllocsReq, s.Errors, setupCols(s.SetupP50, s.SetupP99))
	}
	fmt.Fprintln(tw, strings.Repeat("\t", strings.Count(head, "\t")))
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "median\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%s\n",
			s.Target, s.Conns, s.RPS, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), us(s.CPUPerReq), s.AllocsReq, s.Errors, setupCols(s.SetupP50, s.SetupP99))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, ra := range r.Ratios {
		fmt.Fprintf(w, "ratio %s: %.2f (of the medians)", ra.Name, ra.Value)
		if len(ra.PerRound) > 0 {
			fmt.Fprint(w, "; per round:")
			for _, v := range ra.PerRound {
				fmt.Fprintf(w, " %.2f", v)
			}
			fmt.Fprintf(w, ", median %.2f", ra.PerRoundMedian)
		}
		fmt.Fprintln(w)
	}
	r.printNotesAndChecks(w)
}

func (r *Result) printNotesAndChecks(w io.Writer) {
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\twant %s\tgot %s\n", verdict, c.Name, c.Want, c.Got)
	}
	tw.Flush()
	if r.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

func median(ss []Sample, f func(Sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

func medianDur(ss []Sample, f func(Sample) time.Duration) time.Duration {
	return time.Duration(median(ss, func(s Sample) float64 { return float64(f(s)) }))
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// us formats a CPU time in microseconds ("?" if unknown).
func us(d time.Duration) string {
	if d <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}
