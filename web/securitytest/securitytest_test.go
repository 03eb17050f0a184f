package securitytest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps what Report logs and whether it failed.
type recorder struct {
	testing.TB
	logs   []string
	failed bool
}

func (r *recorder) Helper()                      {}
func (r *recorder) Logf(format string, a ...any) { r.logs = append(r.logs, fmt.Sprintf(format, a...)) }
func (r *recorder) Errorf(string, ...any)        { r.failed = true }

func TestReport(t *testing.T) {
	tests := []struct {
		name               string
		expected, observed string
		fail               bool
		verdict            string
	}{
		{"same answer passes", "403", "403", false, "ok"},
		{"other answer fails", "403", "200", true, "FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Report(r, "an\tattack\nacross lines", tt.expected, tt.observed)
			if r.failed != tt.fail {
				t.Errorf("failed = %v, want %v", r.failed, tt.fail)
			}
			want := "SECURITY\t" + tt.verdict + "\tan attack across lines\t" + tt.expected + "\t" + tt.observed
			if len(r.logs) != 1 || r.logs[0] != want {
				t.Errorf("logged %q, want %q", r.logs, want)
			}
		})
	}
}
