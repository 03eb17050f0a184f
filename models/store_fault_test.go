package models_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// TestFaultPostgresSilentServer: a PostgreSQL address that accepts connections but never answers (a
// frozen server, a half-open network path) fails fast with an "unavailable" error instead of holding
// the caller for the operating system's TCP timeout; the password in the URL stays out of the error.
func TestFaultPostgresSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accepted and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, dsn := range []string{
		"postgres://gatehouse:s3cret-pw@" + ln.Addr().String() + "/gatehouse?sslmode=disable",
		"host=127.0.0.1 port=" + ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):] + " user=gatehouse password=s3cret-pw dbname=gatehouse sslmode=disable",
	} {
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			s, err := models.Open(models.Options{DatabaseURL: dsn})
			if err == nil {
				s.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			took := time.Since(start)
			switch {
			case err == nil:
				t.Errorf("%.20s…: Open succeeded against a silent server", dsn)
			case !models.IsUnavailable(err):
				t.Errorf("%.20s…: error %q is not recognised as unavailable (would be a 500)", dsn, err)
			case strings.Contains(err.Error(), "s3cret-pw"):
				t.Errorf("%.20s…: error shows the database password", dsn)
			case took > 3*time.Second:
				t.Errorf("%.20s…: failed after %v, want within 3 s", dsn, took)
			}
		case <-time.After(6 * time.Second):
			t.Fatalf("%.20s…: Open still waiting after 6 s for a server that never answers", dsn)
		}
	}
}

// pgError stands for the driver's *pgconn.PgError, which Gatehouse reads only by its SQLSTATE.
type pgError struct{ code string }

func (e pgError) Error() string    { return "ERROR: something (SQLSTATE " + e.code + ")" }
func (e pgError) SQLState() string { return e.code }

// TestIsUnavailableByKind: database errors that mean "cannot reach the database now" become a 503,
// recognised by their type and SQLSTATE even when the text changes; others stay errors (a 500).
func TestIsUnavailableByKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"server shutting down (57P01)", fmt.Errorf("user 1: %w", pgError{"57P01"}), true},
		{"server starting up (57P03)", pgError{"57P03"}, true},
		{"connection failure (08006)", pgError{"08006"}, true},
		{"network error", fmt.Errorf("list users: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("reset")}), true},
		{"bad pooled connection", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"connection already closed", fmt.Errorf("x: %w", sql.ErrConnDone), true},
		{"unique violation (23505)", pgError{"23505"}, false},
		{"syntax error (42601)", pgError{"42601"}, false},
		{"not found", models.ErrNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := models.IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
