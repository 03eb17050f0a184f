package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"gatehouse/models"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func runCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env(vars), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		naming  string
		noEchos string // a value that must not be printed
	}{
		{"session idle that is not a duration", map[string]string{"GATEHOUSE_SESSION_IDLE": "abc"}, "GATEHOUSE_SESSION_IDLE", ""},
		{"a MySQL database URL", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL", ""},
		{"a short secret key", map[string]string{"GATEHOUSE_SECRET_KEY": "short-secret-key-value"}, "GATEHOUSE_SECRET_KEY", "short-secret-key-value"},
		{"PostgreSQL without a secret key", map[string]string{"DATABASE_URL": "postgres://u:dbpass123@127.0.0.1:1/db"}, "GATEHOUSE_SECRET_KEY", "dbpass123"},
		{"a listen address that is not one", map[string]string{"GATEHOUSE_ADDR": "nonsense"}, "GATEHOUSE_ADDR", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.vars["GATEHOUSE_DATA_DIR"] = t.TempDir()
			code, _, stderr := runCLI(t, tt.vars)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.naming) {
				t.Fatalf("stderr %q, want one line naming %s", stderr, tt.naming)
			}
			if tt.noEchos != "" && strings.Contains(stderr, tt.noEchos) {
				t.Fatalf("stderr shows the secret value: %q", stderr)
			}
		})
	}
}

func TestRunCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"version prints the version", []string{"version"}, 0, "gatehouse ", ""},
		{"help prints the usage", []string{"--help"}, 0, "Usage:", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"unknown flag", []string{"--frobnicate"}, 2, "", "frobnicate"},
		{"unknown flag of serve", []string{"serve", "--nope"}, 2, "", "nope"},
		{"extra argument to migrate", []string{"migrate", "extra"}, 2, "", "migrate"},
		{"user without a subcommand", []string{"user"}, 2, "", "user"},
		{"unknown user subcommand", []string{"user", "delete", "bob"}, 2, "", "delete"},
		{"user create without a username", []string{"user", "create"}, 2, "", "USERNAME"},
		{"set-password without a password", []string{"user", "set-password", "bob"}, 2, "", "--password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d stdout %q stderr %q; want %d, %q, %q", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.code == 2 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("a usage error takes one line: %q", stderr)
			}
		})
	}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_ADMIN_PASSWORD": "first-admin-password"}
	user := func(t *testing.T, username string) (models.User, bool) {
		t.Helper()
		s, err := models.Open(models.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, err := s.UserByUsername(context.Background(), username)
		return u, err == nil
	}
	steps := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T)
	}{
		{"create a user", []string{"user", "create", "Alice", "--password", "alice-password", "--nickname", "Alice L", "--mobile", "138 0000 0001"}, 0, func(t *testing.T) {
			u, ok := user(t, "alice")
			if !ok || u.Nickname != "Alice L" || u.MobileString() != "+8613800000001" || u.IsAdmin || !u.HasPassword() {
				t.Fatalf("alice: %+v", u)
			}
			if bcrypt.CompareHashAndPassword([]byte(*u.PasswordHash), []byte("alice-password")) != nil {
				t.Fatal("the password given at creation does not match")
			}
			if admin, ok := user(t, "admin"); !ok || !admin.IsAdmin {
				t.Fatal("the first admin was not created on first use")
			}
		}},
		{"set her password", []string{"user", "set-password", "alice", "--password", "second-password"}, 0, func(t *testing.T) {
			u, _ := user(t, "alice")
			if bcrypt.CompareHashAndPassword([]byte(*u.PasswordHash), []byte("second-password")) != nil {
				t.Fatal("the password did not change")
			}
			if u.Nickname != "Alice L" || u.MobileString() != "+8613800000001" {
				t.Fatalf("setting the password changed the profile: %+v", u)
			}
		}},
		{"make her an admin", []string{"user", "make-admin", "alice"}, 0, func(t *testing.T) {
			if u, _ := user(t, "alice"); !u.IsAdmin {
				t.Fatal("alice is not an admin")
			}
		}},
		{"a bad mobile is refused with a readable message and no row", []string{"user", "create", "bob", "--mobile", "not-a-phone"}, 2, func(t *testing.T) {
			if _, ok := user(t, "bob"); ok {
				t.Fatal("bob was created")
			}
		}},
		{"a taken username is refused", []string{"user", "create", "alice"}, 2, nil},
		{"a short password is refused", []string{"user", "set-password", "alice", "--password", "short"}, 2, nil},
		{"an unknown user is refused", []string{"user", "make-admin", "nobody"}, 2, nil},
		{"migrate is a no-op afterwards", []string{"migrate"}, 0, func(t *testing.T) {
			if u, ok := user(t, "alice"); !ok || !u.IsAdmin {
				t.Fatal("migrating again lost data")
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, vars, st.args...)
			if code != st.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, st.code, stdout, stderr)
			}
			if strings.Contains(stderr, "first-admin-password") || strings.Contains(stdout, "first-admin-password") {
				t.Fatal("the configured admin password was printed")
			}
			if code == 2 {
				if !strings.HasPrefix(stderr, "gatehouse: ") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
					t.Fatalf("stderr %q, want one readable line", stderr)
				}
				if st.args[len(st.args)-1] == "not-a-phone" && !strings.Contains(stderr, "--mobile") {
					t.Fatalf("stderr %q does not name --mobile", stderr)
				}
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}
}
