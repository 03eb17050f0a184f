package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gatehouse/models"
)

// TestOIDCRotateKeys: `gatehouse oidc rotate-keys` makes a key on an empty key set, then each run
// makes a new current key and keeps the previous one, sealed (no key is stored in the clear).
func TestOIDCRotateKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	getenv := func(k string) string {
		return map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_ADMIN_PASSWORD": "first-admin-password"}[k]
	}
	for i := 1; i <= 2; i++ {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"oidc", "rotate-keys"}, getenv, &stdout, &stderr); code != 0 {
			t.Fatalf("rotate-keys: exit %d: %s", code, stderr.String())
		}
		s, err := models.Open(models.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var keys []models.OIDCKey
		s.DB().Order("created_at").Find(&keys)
		s.Close()
		if len(keys) != i {
			t.Fatalf("after run %d: %d keys", i, len(keys))
		}
		active := 0
		for _, k := range keys {
			if k.Active != nil && *k.Active {
				active++
			}
			if strings.Contains(k.PrivateSealed, "PRIVATE KEY") || !strings.HasPrefix(k.PrivateSealed, "v2.") {
				t.Fatal("a signing key is not sealed")
			}
		}
		if active != 1 || keys[len(keys)-1].Active == nil {
			t.Fatalf("after run %d: %d current keys, newest current %v", i, active, keys[len(keys)-1].Active)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"oidc", "nonsense"}, getenv, &stdout, &stderr); code != exitUsage {
		t.Fatalf("bad subcommand: exit %d", code)
	}
}
