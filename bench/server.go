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
// io.Discard, so its log formatting is measured but the output does not flood the terminal.
func StartGatehouse(ctx context.Context, o Options, wopts web.Options) (_ *Gatehouse, err error) {
	g := &Gatehouse{}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
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
	err = g.Store.Migrate(ctx, func(ctx context.Context, s *models.Store) error {
		return auth.EnsureFirstAdmin(ctx, s, benchAdmin, benchPassword, log)
	})
	if err != nil {
		return nil, err
	}

	g.Config, err = web.LoadConfig(func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	g.Config.Addr = "127.0.0.1:0"
	g.Config.SecretKey = []byte(rand.Text() + rand.Text())
	srv, err := web.New(g.Config, g.Store, log, wopts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.URL = "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	g.close = append(g.close, func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench: gatehouse server:", err)
		}
	})
	return g, nil
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
