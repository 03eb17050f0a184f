// Package modelstest gives tests a fresh, migrated database: SQLite always, and PostgreSQL when
// TEST_DATABASE_URL is set, each test in its own schema that is dropped afterwards.
package modelstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gatehouse/models"
)

// Dialects returns the databases this run tests against.
func Dialects() []string {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Each runs fn as a subtest once per database, each with a fresh migrated store.
func Each(t *testing.T, fn func(t *testing.T, s *models.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, Open(t, d)) })
	}
}

// EachEmpty runs fn as a subtest once per database, each with a fresh store without migrations.
func EachEmpty(t *testing.T, fn func(t *testing.T, s *models.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, OpenEmpty(t, d)) })
	}
}

// Open returns a fresh, migrated store of the given dialect, removed when the test ends.
func Open(t testing.TB, dialect string) *models.Store {
	t.Helper()
	s := OpenEmpty(t, dialect)
	if err := s.Migrate(context.Background(), nil); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return s
}

// OpenEmpty returns a fresh store of the given dialect without running migrations.
func OpenEmpty(t testing.TB, dialect string) *models.Store {
	t.Helper()
	if dialect == "sqlite" {
		s, err := models.Open(models.Options{SQLitePath: filepath.Join(t.TempDir(), "test.db")})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	dsn := SchemaURL(t)
	s, err := models.Open(models.Options{DatabaseURL: dsn, MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SchemaURL creates a new schema in TEST_DATABASE_URL's database and returns a URL whose connections use
// it; the schema is dropped when the test ends. Several stores may open the URL (several instances).
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("TEST_DATABASE_URL is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := models.Open(models.Options{DatabaseURL: base, MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema (is PostgreSQL running at TEST_DATABASE_URL?): %v", err)
	}
	t.Cleanup(func() {
		admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
