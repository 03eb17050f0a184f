// Command bench measures Gatehouse against a baseline measured in the same run, on loopback, with a
// built-in closed-loop load generator, and checks the speed targets of DESIGN.md §8. See README.md.
//
//	go tool task bench                                  # the default scenario, signin
//	go tool task bench -- -scenario signin -rounds 7
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Options are the command-line settings every scenario receives.
type Options struct {
	Conns       int           // concurrent connections (closed-loop workers)
	Duration    time.Duration // length of one measured run of one target
	Requests    int           // if > 0, operations per run instead of Duration
	Rounds      int           // runs per target, interleaved between targets
	Warmup      time.Duration // untimed run of each target before the first round
	DB          string        // "sqlite" or "postgres"
	DatabaseURL string        // with DB == "postgres"
	Members     int           // callback: WeCom members seeded and bound beforehand
	Mix         float64       // callback: share of first sign-ins by mobile match in an extra target
	Soak        time.Duration // memory: if > 0, sample the resident set every 30 s for this long
	Progress    io.Writer     // progress lines (stderr)
}

// Scenario sets up its servers, measures them with Measure and returns the result with its checks.
type Scenario func(ctx context.Context, opts Options) (Result, error)

// scenarios is every benchmark this program knows.
var scenarios = map[string]Scenario{
	"signin":    signinScenario,
	"callback":  callbackScenario,
	"coldtoken": coldtokenScenario,
	"memory":    memoryScenario,
	"bulkbind":  bulkbindScenario,
	"userlist":  userlistScenario,
	"audit":     auditScenario,
	"forward":   forwardScenario,
	"oidc":      oidcScenario,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	scenario := fs.String("scenario", "signin", "scenario to run: "+strings.Join(scenarioNames(), ", "))
	fs.IntVar(&o.Conns, "conns", 50, "concurrent connections, each a goroutine with its own keep-alive client")
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "length of one measured run of one target")
	fs.IntVar(&o.Requests, "requests", 0, "operations per run instead of -duration (0: use -duration)")
	fs.IntVar(&o.Rounds, "rounds", 5, "measured runs per target, interleaved between targets; medians are reported")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "untimed run of each target before the first round")
	fs.StringVar(&o.DB, "db", "sqlite", "database: sqlite (fresh file in a temp dir) or postgres (fresh schema in -database-url)")
	fs.StringVar(&o.DatabaseURL, "database-url", firstEnv("TEST_DATABASE_URL", "DATABASE_URL"), "postgres:// URL for -db postgres (default $TEST_DATABASE_URL, then $DATABASE_URL)")
	fs.IntVar(&o.Members, "members", 1000, "callback: WeCom members seeded and bound before the run (sign-ins cycle through them)")
	fs.Float64Var(&o.Mix, "mix", 0, "callback: if > 0, an extra target where this share of sign-ins is a first sign-in by mobile match")
	fs.DurationVar(&o.Soak, "soak", 0, "memory: after the attacks, sample the resident set every 30 s for this long under a light load (e.g. 10m)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured rounds (all targets and the generator) to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench [flags]   (or: go tool task bench -- [flags])\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fn, ok := scenarios[*scenario]
	switch {
	case !ok:
		fmt.Fprintf(stderr, "bench: unknown scenario %q (have: %s)\n", *scenario, strings.Join(scenarioNames(), ", "))
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	case o.Conns < 1 || o.Rounds < 1 || (o.Duration <= 0 && o.Requests <= 0):
		fmt.Fprintln(stderr, "bench: -conns and -rounds must be at least 1, and -duration or -requests positive")
		return 2
	case o.Members < 1 || o.Mix < 0 || o.Mix > 1:
		fmt.Fprintln(stderr, "bench: -members must be at least 1 and -mix within [0, 1]")
		return 2
	case o.DB != "sqlite" && o.DB != "postgres":
		fmt.Fprintf(stderr, "bench: -db must be sqlite or postgres, not %q\n", o.DB)
		return 2
	case o.DB == "postgres" && o.DatabaseURL == "":
		fmt.Fprintln(stderr, "bench: -db postgres needs -database-url (or TEST_DATABASE_URL)")
		return 2
	}
	o.Progress = stderr

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		profiling = func(on bool) {
			if on {
				pprof.StartCPUProfile(f)
			} else {
				pprof.StopCPUProfile()
			}
		}
	}

	res, err := fn(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %s: %v\n", *scenario, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	} else {
		res.Print(stdout)
	}
	if !res.Pass {
		return 1
	}
	return 0
}

// profiling starts and stops the CPU profile around the measured rounds (no-op without -cpuprofile).
var profiling = func(on bool) {}

func scenarioNames() []string {
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
