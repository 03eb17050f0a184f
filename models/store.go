package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Errors callers can test for with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store runs every query Gatehouse makes. A Store made by InTx runs inside that transaction.
type Store struct {
	db      *gorm.DB
	dialect string // "sqlite" or "postgres"
	auths   *authenticatorCache
	// tokenGen moves on when DropTokens runs, invalidating the TokenCaches' in-process copies.
	tokenGen *atomic.Int64
	inTx     bool
}

// Options configures Open.
type Options struct {
	// DatabaseURL is a postgres:// URL; empty means SQLite in DataDir.
	DatabaseURL string
	DataDir     string
	// SQLitePath overrides the SQLite file (tests).
	SQLitePath   string
	MaxOpenConns int
}

// Open connects to PostgreSQL or opens the SQLite file and sizes the connection pool.
func Open(opts Options) (*Store, error) {
	cfg := &gorm.Config{
		Logger:         logger.Discard,
		NowFunc:        func() time.Time { return time.Now().UTC() },
		TranslateError: true,
		// A single statement is atomic on its own; InTx makes the transactions that need several.
		SkipDefaultTransaction:                   true,
		DisableForeignKeyConstraintWhenMigrating: true,
	}
	if opts.DatabaseURL != "" {
		db, err := gorm.Open(postgres.Open(withConnectTimeout(opts.DatabaseURL)), cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to postgresql: %w", redactURL(err, opts.DatabaseURL))
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		return &Store{db: db, dialect: "postgres", auths: &authenticatorCache{}, tokenGen: &atomic.Int64{}}, nil
	}
	path := opts.SQLitePath
	if path == "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(opts.DataDir, "gatehouse.db")
	}
	// WAL lets readers run beside the writer; immediate transactions plus a busy timeout make
	// concurrent writers wait their turn instead of failing with "database is locked".
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(8)
	return &Store{db: db, dialect: "sqlite", auths: &authenticatorCache{}, tokenGen: &atomic.Int64{}}, nil
}

// connectTimeout bounds dialling PostgreSQL and its start-up exchange. Without it a server that
// accepts connections but does not answer (frozen, or a half-open network path) holds each new
// connection, and the request waiting for it, for as long as the operating system's TCP timeout.
const connectTimeout = "2"

// withConnectTimeout adds connect_timeout to a postgres:// URL or key=value DSN that has none.
func withConnectTimeout(dsn string) string {
	if strings.Contains(dsn, "connect_timeout") {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("connect_timeout", connectTimeout)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " connect_timeout=" + connectTimeout
}

// redactURL keeps a database password out of error messages.
func redactURL(err error, dsn string) error {
	msg := err.Error()
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.Index(dsn[i+3:], "@"); at >= 0 {
			userinfo := dsn[i+3 : i+3+at]
			if c := strings.Index(userinfo, ":"); c >= 0 && len(userinfo) > c+1 {
				msg = strings.ReplaceAll(msg, userinfo[c+1:], "xxxxx")
			}
		}
	}
	return errors.New(msg)
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// DB exposes the GORM handle for migrations and tests.
func (s *Store) DB() *gorm.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers, for /readyz.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// InTx runs fn in one transaction: everything fn does through tx is committed together or not at all.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return fn(&Store{db: db, dialect: s.dialect, auths: s.auths, tokenGen: s.tokenGen, inTx: true})
	})
}

func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// notFound maps GORM's not-found to ErrNotFound, keeping the context of what was looked up.
func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// IsUnavailable tells whether err means the database could not be reached, so the caller answers 503.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	// PostgreSQL's own verdicts: class 08 (connection exception), and 57P01-57P03 (the server shut
	// down, crashed or is still starting).
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		code := pgErr.SQLState()
		if strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" {
			return true
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connect:", "broken pipe", "connection reset", "the database system is", "terminating connection", "unexpected EOF", "i/o timeout", "conn closed", "failed to connect", "context deadline exceeded"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// forUpdate is a query whose rows stay locked until the transaction ends, on PostgreSQL; SQLite's
// immediate transactions already hold the only write lock.
func (s *Store) forUpdate(ctx context.Context) *gorm.DB {
	if s.dialect == "postgres" {
		return s.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return s.q(ctx)
}
