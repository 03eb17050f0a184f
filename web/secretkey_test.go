package web_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/web"
)

// TestSecurityResolveSecretKeyRefusesBadKeyFile: a secret.key that exists but is short, corrupt or
// unreadable stops start-up with one line naming the file, instead of being replaced by a new key that
// would make every sealed WeCom secret unreadable; the file is left as it was.
func TestSecurityResolveSecretKeyRefusesBadKeyFile(t *testing.T) {
	tests := []struct {
		name    string
		content []byte // nil: secret.key is a directory (unreadable as a file)
		says    string
	}{
		{"an empty file (a crash while writing it)", []byte(""), "0 bytes"},
		{"a key cut short", []byte("0123456789abcdef\n"), "16 bytes"},
		{"binary garbage", append([]byte("0123456789abcdef0123456789abcdef"), 0, 0xff, 0x10, 'x'), "corrupt"},
		{"two lines", []byte("0123456789abcdef0123456789abcdef\nsecond line of something else\n"), "corrupt"},
		{"an unreadable file", nil, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "secret.key")
			if tt.content == nil {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			c := web.Config{DataDir: dir}
			err := c.ResolveSecretKey()
			var cfgErr *web.ConfigError
			if !errors.As(err, &cfgErr) || cfgErr.Var != "GATEHOUSE_SECRET_KEY" {
				t.Fatalf("error %v, want a configuration error for GATEHOUSE_SECRET_KEY", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tt.says) || strings.Contains(msg, "\n") || c.SecretKey != nil {
				t.Fatalf("error %q, want one line naming %s and saying %q, and no key", msg, path, tt.says)
			}
			if tt.content != nil {
				if len(tt.content) > 4 && strings.Contains(msg, string(tt.content[:8])) {
					t.Fatalf("error %q shows the file's content", msg)
				}
				if b, _ := os.ReadFile(path); string(b) != string(tt.content) {
					t.Fatal("the key file was replaced")
				}
			}
		})
	}
}

func TestResolveSecretKey(t *testing.T) {
	t.Run("generated once when the file does not exist, then read back", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		c := web.Config{DataDir: dir}
		if err := c.ResolveSecretKey(); err != nil {
			t.Fatal(err)
		}
		if _, err := hex.DecodeString(string(c.SecretKey)); err != nil || len(c.SecretKey) != 64 {
			t.Fatalf("generated key %d bytes, hex: %v", len(c.SecretKey), err)
		}
		st, err := os.Stat(filepath.Join(dir, "secret.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
		again := web.Config{DataDir: dir}
		if err := again.ResolveSecretKey(); err != nil || string(again.SecretKey) != string(c.SecretKey) {
			t.Fatalf("second start: %v, same key %v", err, string(again.SecretKey) == string(c.SecretKey))
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".secret.key-*")); len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	})
	t.Run("an operator's own key of 32+ printable characters is kept", func(t *testing.T) {
		dir := t.TempDir()
		own := "my-own-key_0123456789-ABCDEFGHIJ-xyz"
		if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte("  "+own+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := web.Config{DataDir: dir}
		if err := c.ResolveSecretKey(); err != nil || string(c.SecretKey) != own {
			t.Fatalf("key %q, %v", c.SecretKey, err)
		}
	})
	t.Run("two starts at once agree on one key", func(t *testing.T) {
		dir := t.TempDir()
		keys := make([]string, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				c := web.Config{DataDir: dir}
				if err := c.ResolveSecretKey(); err != nil {
					t.Error(err)
				}
				keys[i] = string(c.SecretKey)
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if k != keys[0] {
				t.Fatalf("different keys: %q", keys)
			}
		}
	})
	t.Run("GATEHOUSE_SECRET_KEY wins over the file", func(t *testing.T) {
		dir := t.TempDir()
		c := web.Config{DataDir: dir, SecretKey: []byte(goodKey)}
		if err := c.ResolveSecretKey(); err != nil || string(c.SecretKey) != goodKey {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "secret.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a key file was written though a key was configured")
		}
	})
}
