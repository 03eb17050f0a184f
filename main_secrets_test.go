package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/models"
)

// TestSecurityRunRefusesWrongSecretKey: starting with a secret key that opens none of the sealed WeCom
// secrets exits 2 with one line naming the variables, without printing a key; a rotation with the old
// key in GATEHOUSE_SECRET_KEY_PREVIOUS re-seals everything, after which the old key can be dropped.
func TestSecurityRunRefusesWrongSecretKey(t *testing.T) {
	t.Parallel()
	const keyA, keyB = "key-a-0123456789abcdef0123456789abcdef", "key-b-0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_SECRET_KEY": keyA}, "migrate"); code != 0 {
		t.Fatalf("first migrate: %d %s", code, stderr)
	}
	s, err := models.Open(models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := models.NewSealer([]byte(keyA))
	sealed, _ := sealer.Seal("acme-secret", models.AuthenticatorSecret("acme"))
	a := models.Authenticator{Name: "acme", Type: models.TypeWeCom, Title: "Acme", Enabled: true, SecretSealed: sealed,
		Options: models.AuthenticatorOptions{CorpID: "ww1234567890abcdef", AgentID: 1000002, Origin: "https://gate.example.com"}}
	if err := s.CreateAuthenticator(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	s.Close()

	steps := []struct {
		name     string
		key      string
		previous string
		code     int
	}{
		{"a new key alone is refused", keyB, "", 2},
		{"the new key with the old one as previous starts and re-seals", keyB, keyA, 0},
		{"then the new key alone starts", keyB, "", 0},
		{"and the old key alone is refused", keyA, "", 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			vars := map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_SECRET_KEY": st.key, "GATEHOUSE_SECRET_KEY_PREVIOUS": st.previous}
			code, stdout, stderr := runCLI(t, vars, "migrate")
			if code != st.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, st.code, stderr)
			}
			if strings.Contains(stdout+stderr, keyA) || strings.Contains(stdout+stderr, keyB) || strings.Contains(stdout+stderr, "acme-secret") {
				t.Fatal("a key or secret was printed")
			}
			if code == 2 {
				line := strings.TrimSpace(stderr)
				if strings.Contains(line, "\n") || !strings.Contains(line, "GATEHOUSE_SECRET_KEY:") || !strings.Contains(line, "GATEHOUSE_SECRET_KEY_PREVIOUS") {
					t.Fatalf("stderr %q, want one line naming GATEHOUSE_SECRET_KEY and GATEHOUSE_SECRET_KEY_PREVIOUS", stderr)
				}
			}
		})
	}
}

// TestSecurityRunRefusesCorruptKeyFile: a data dir whose secret.key is cut short stops the CLI with
// exit 2 and one line naming the file; the file is not replaced.
func TestSecurityRunRefusesCorruptKeyFile(t *testing.T) {
	t.Parallel()
	for _, content := range []string{"", "abc123\n", "0123456789abcdef0123456789abcdef\x00\x01"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "secret.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, map[string]string{"GATEHOUSE_DATA_DIR": dir}, "migrate")
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], path) {
			t.Fatalf("key file %q: exit %d stderr %q, want 2 and one line naming %s", content, code, stderr, path)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Fatalf("key file %q was replaced", content)
		}
	}
}

// TestDemoSurvivesALostKeyFile: a demo database whose secret.key was deleted starts again in demo mode
// (the demo's own secret is public and sealed afresh) rather than refusing the new key.
func TestDemoSurvivesALostKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_DEMO": "1"}
	for i := range 2 {
		if code, _, stderr := runCLI(t, vars, "migrate"); code != 0 {
			t.Fatalf("demo start %d: exit %d (%s)", i+1, code, stderr)
		}
		if err := os.Remove(filepath.Join(dir, "secret.key")); err != nil {
			t.Fatal(err)
		}
	}
}
