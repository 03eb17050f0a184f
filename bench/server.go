package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/web"
)

// Bench admin credentials of the fresh database.
const (
	benchAdmin    = "admin"
	benchPassword = "bench-password-0123"
)

// Gatehouse is a real Gatehouse server on a fresh database, listening on a loopback port.
type Gatehouse struct {
	URL    string
	Store  *models.Store
	Config web.Config
	// Server is the instance behind URL, for in-process handler benchmarks (Server.Handler).
	Server *web.Server
	close  []func()
}

// Close stops the server and removes its database.
func (g *Gatehouse) Close() {
	for i := len(g.close) - 1; i >= 0; i-- {
		g.close[i]()
	}
}

// StartGatehouse opens a fresh database (a SQLite file in a temp dir, or a new schema in the PostgreSQL
// database, dropped on Close), migrates it with the first admin, and serves web.New on 127.0.0.1:0
// through Server.Serve, the production path. The server logs at Info level, as in production, into
// io.Discard, so its log formatting is measured but the output does not flood the terminal. Each
// configure function may change the configuration before web.New (the WeCom hosts, say).
func StartGatehouse(ctx context.Context, o Options, wopts web.Options, configure ...func(*web.Config)) (_ *Gatehouse, err error) {
	g := &Gatehouse{}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	switch o.DB {
	case "sqlite":
		dir, err := os.MkdirTemp("", "gatehouse-bench-")
		if err != nil {
			return nil, err
		}
		g.close = append(g.close, func() { os.RemoveAll(dir) })
		g.Store, err = models.Open(models.Options{SQLitePath: filepath.Join(dir, "bench.db")})
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	case "postgres":
		dsn, drop, err := freshSchema(o.DatabaseURL)
		if err != nil {
			return nil, err
		}
		g.close = append(g.close, drop)
		g.Store, err = models.Open(models.Options{DatabaseURL: dsn})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown database %q", o.DB)
	}
	g.close = append(g.close, func() { g.Store.Close() })
	if err := migrate(ctx, g.Store); err != nil {
		return nil, err
	}
	if err := g.serve(ctx, []byte(rand.Text()+rand.Text()), wopts, configure...); err != nil {
		return nil, err
	}
	return g, nil
}

// ServeGatehouse serves another instance on an open, migrated store with the given secret key (every
// instance of one deployment shares it). Close stops the server but leaves the store open.
func ServeGatehouse(ctx context.Context, store *models.Store, secretKey []byte, wopts web.Options, configure ...func(*web.Config)) (_ *Gatehouse, err error) {
	g := &Gatehouse{Store: store}
	if err := g.serve(ctx, secretKey, wopts, configure...); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// migrate brings a fresh database to the current schema with the bench's first admin.
func migrate(ctx context.Context, store *models.Store) error {
	log := slog.New(slog.DiscardHandler)
	return store.Migrate(ctx, func(ctx context.Context, s *models.Store) error {
		return auth.EnsureFirstAdmin(ctx, s, benchAdmin, benchPassword, log)
	})
}

func (g *Gatehouse) serve(ctx context.Context, secretKey []byte, wopts web.Options, configure ...func(*web.Config)) (err error) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g.Config, err = web.LoadConfig(func(string) string { return "" })
	if err != nil {
		return err
	}
	g.Config.Addr = "127.0.0.1:0"
	g.Config.SecretKey = secretKey
	for _, f := range configure {
		f(&g.Config)
	}
	g.Server, err = web.New(g.Config, g.Store, log, wopts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g.URL = "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Server.Serve(sctx, ln) }()
	g.close = append(g.close, func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench: gatehouse server:", err)
		}
	})
	return nil
}

// StartHTTP serves h on 127.0.0.1:0 with the same server settings as Gatehouse's Server.Serve, and
// returns its base URL and a function that stops it.
func StartHTTP(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go srv.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// freshSchema creates a new schema in the database at base and returns a URL whose connections use it,
// and a function that drops it.
func freshSchema(base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, errors.New("-database-url is not a postgres:// URL")
	}
	admin, err := models.Open(models.Options{DatabaseURL: base, MaxOpenConns: 2})
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}, nil
}
