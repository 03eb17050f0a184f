package wecomtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Main runs the standalone simulator, the command
//
//	gatehouse wecom-sim [--addr 127.0.0.1:9080] [--seed demo|FILE.json] [--trusted-domain HOST:PORT]…
//
// It serves until ctx is done. args exclude the command name.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wecom-sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:9080", "listen `address` (host:port); keep it on loopback")
	seedArg := fs.String("seed", "demo", `"demo" (the built-in demo corp) or the path of a seed JSON `+"`file`")
	var domains []string
	fs.Func("trusted-domain", "replace every corp's trusted domains with this `host[:port]` (repeatable), e.g. localhost:8080",
		func(v string) error {
			if v == "" || strings.Contains(v, "/") {
				return errors.New("want host[:port], without scheme or path")
			}
			domains = append(domains, v)
			return nil
		})
	fs.Usage = func() {
		fmt.Fprintln(stdout, `Usage: gatehouse wecom-sim [flags]

Runs a WeCom (企业微信) simulator: the API (/cgi-bin/…) and the sign-in pages
(/connect/oauth2/authorize, /wwlogin/sso/login) on one host. Point Gatehouse's
WECOM_API_BASE, WECOM_OAUTH_BASE and WECOM_LOGIN_BASE at the printed base URL.

Flags:`)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stdout, "  --%s %s\n        %s", f.Name, name, usage)
			if f.DefValue != "" && f.DefValue != "[]" {
				fmt.Fprintf(stdout, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stdout)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("wecom-sim: unexpected argument %q", fs.Arg(0))
	}

	seed := DemoSeed()
	if *seedArg != "demo" {
		var err error
		if seed, err = LoadSeed(*seedArg); err != nil {
			return err
		}
	}
	if len(domains) > 0 {
		for i := range seed.Corps {
			seed.Corps[i].TrustedDomains = domains
		}
	}
	sim := New()
	if err := sim.Apply(seed); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("wecom-sim: listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	printSeed(stdout, base, seed)

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("wecom-sim: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("wecom-sim: shutdown: %w", err)
	}
	return nil
}

func printSeed(w io.Writer, base string, seed Seed) {
	fmt.Fprintf(w, "WeCom simulator listening on %s\n", base)
	fmt.Fprintf(w, "  API base, OAuth base and login base: %s\n", base)
	for _, c := range seed.Corps {
		fmt.Fprintf(w, "corp %s (%s), trusted domains %s\n", c.ID, c.Name, strings.Join(c.TrustedDomains, ", "))
		for _, a := range c.Apps {
			fmt.Fprintf(w, "  app %q AgentId %d secret %s\n", a.Name, a.AgentID, a.Secret)
		}
		for _, d := range c.Departments {
			fmt.Fprintf(w, "  department %-3d %s (parent %d)\n", d.ID, d.Name, d.ParentID)
		}
		for _, t := range c.Tags {
			fmt.Fprintf(w, "  tag %-3d %s: %s\n", t.ID, t.Name, strings.Join(t.Users, ", "))
		}
		for _, m := range seed.Members[c.ID] {
			notes, _ := memberNotes(&m, 0)
			if m.VisibleTo != nil {
				notes = append(notes, fmt.Sprintf("visible to agents %v", m.VisibleTo))
			}
			fmt.Fprintf(w, "  member %-10s %s mobile %s %s\n", m.UserID, m.Name, m.Mobile, strings.Join(notes, "; "))
		}
	}
}
