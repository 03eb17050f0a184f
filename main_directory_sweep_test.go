package main

import (
	"strings"
	"testing"
)

// TestRunRefusesBadDirectorySync: a bad GATEHOUSE_DIRECTORY_SYNC stops start-up with one line naming it.
func TestRunRefusesBadDirectorySync(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"hourly", "10s", "-1h"} {
		t.Run(v, func(t *testing.T) {
			code, _, stderr := runCLI(t, map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_DIRECTORY_SYNC": v})
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "GATEHOUSE_DIRECTORY_SYNC") {
				t.Fatalf("exit %d, stderr %q; want 2 and one line naming GATEHOUSE_DIRECTORY_SYNC", code, stderr)
			}
		})
	}
}
