// Command gatehouse is a self-hosted admin web application with "Sign in with WeCom".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/wecom/wecomtest"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Gatehouse: sign in with WeCom for self-hosted admin applications.

Usage:
  gatehouse [serve] [--demo]          serve the web application (the default)
  gatehouse migrate                   bring the database schema up to date and exit
  gatehouse user create USERNAME [--password P] [--admin] [--nickname N] [--email E] [--mobile M]
  gatehouse user set-password USERNAME --password P
  gatehouse user make-admin USERNAME
  gatehouse wecom-sim [--addr 127.0.0.1:9080] [--seed demo|FILE.json]
                                      run the WeCom simulator on its own (tests, load tests, demos)
  gatehouse oidc rotate-keys          make a new OpenID Connect signing key now (the previous one stays
                                      in the key set until the tokens it signed have expired)
  gatehouse version                   print the version

Configuration comes from the environment (see README.md): GATEHOUSE_ADDR, DATABASE_URL,
GATEHOUSE_DATA_DIR, GATEHOUSE_SECRET_KEY, GATEHOUSE_SECRET_KEY_PREVIOUS, GATEHOUSE_BASE_URL, GATEHOUSE_COOKIE_DOMAIN, GATEHOUSE_TRUSTED_PROXIES,
GATEHOUSE_ADMIN_USERNAME, GATEHOUSE_ADMIN_PASSWORD, GATEHOUSE_SESSION_IDLE, GATEHOUSE_SESSION_MAX, GATEHOUSE_HANDOFF_TTL,
GATEHOUSE_AUDIT_RETENTION, WECOM_API_BASE, WECOM_OAUTH_BASE, WECOM_LOGIN_BASE, GATEHOUSE_WECOM_ALLOW_HTTP, GATEHOUSE_METRICS_TOKEN,
GATEHOUSE_METRICS_ADDR, GATEHOUSE_DEMO, GATEHOUSE_DIRECTORY_SYNC.
`

// exitUsage is the exit code for bad configuration or arguments.
const exitUsage = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line; run prints it with a hint and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, log)
	case "migrate":
		err = migrate(ctx, args, getenv, log)
	case "user":
		err = userCommand(ctx, args, getenv, stdout, log)
	case "wecom-sim":
		err = wecomtest.Main(ctx, args, stdout)
	case "oidc":
		err = oidcCommand(ctx, args, getenv, stdout, log)
	case "version":
		fmt.Fprintln(stdout, "gatehouse", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var cfgErr *web.ConfigError
	var uErr usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &cfgErr):
		fmt.Fprintln(stderr, "gatehouse: configuration:", cfgErr)
		return exitUsage
	case errors.As(err, &uErr):
		fmt.Fprintf(stderr, "gatehouse: %s (run 'gatehouse --help')\n", uErr.msg)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
}

// open loads the configuration and opens the store, migrating it and creating the first admin.
func open(ctx context.Context, getenv func(string) string, demo bool, log *slog.Logger) (web.Config, *models.Store, error) {
	cfg, err := web.LoadConfig(getenv)
	if err != nil {
		return cfg, nil, err
	}
	cfg.Demo = cfg.Demo || demo
	if err := cfg.ResolveSecretKey(); err != nil {
		return cfg, nil, err
	}
	store, err := models.Open(models.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return cfg, nil, err
	}
	err = store.Migrate(ctx, func(ctx context.Context, s *models.Store) error {
		var err error
		if cfg.Demo {
			err = web.StartDemo(ctx, s, cfg, log)
		} else {
			err = auth.EnsureFirstAdmin(ctx, s, cfg.AdminUsername, cfg.AdminPassword, log)
		}
		if err != nil {
			return err
		}
		// After the demo's seed, which seals its (public) secret afresh: a demo database whose
		// secret.key was lost still starts; any other database refuses a key that opens nothing.
		return web.PrepareSealedSecrets(ctx, s, cfg, log)
	})
	if err != nil {
		store.Close()
		return cfg, nil, err
	}
	return cfg, store, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "start the built-in WeCom simulator with demo data (same as GATEHOUSE_DEMO=1)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, store, err := open(ctx, getenv, *demo, log)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := web.New(cfg, store, log, web.Options{})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	if err := parseFlags(flag.NewFlagSet("migrate", flag.ContinueOnError), args, 0); err != nil {
		return err
	}
	_, store, err := open(ctx, getenv, false, log)
	if err != nil {
		return err
	}
	log.Info("database schema is up to date")
	return store.Close()
}

// parseFlags parses flags and checks the number of positional arguments left.
func parseFlags(fs *flag.FlagSet, args []string, positional int) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() != positional {
		return usageError{fmt.Sprintf("%s: expected %d argument(s), got %d", fs.Name(), positional, fs.NArg())}
	}
	return nil
}
