// Package securitytest lets a security test state, for each attack it tries, what Gatehouse should do
// and what it did. Each call logs one machine-readable line that `go tool task security` collects from
// `go test -json` into the summary table (cmd/securitytable), so the table is built from what the tests
// observed in this run, never from a hand-kept list.
package securitytest

import (
	"strings"
	"testing"
)

// Marker starts every line Report writes; cmd/securitytable looks for it in the test output.
const Marker = "SECURITY"

// Report records one attack and fails the test when observed differs from expected. Keep both short
// and written in the same words ("303 /signin", "403, nothing changed"), so a failing row reads as
// the difference.
func Report(t testing.TB, attack, expected, observed string) {
	t.Helper()
	Check(t, attack, expected, observed, observed == expected)
}

// Check records one attack whose expectation is not a single value ("403 or 404"): ok says whether
// observed meets expected. A failure is reported on the test, so the row and the test agree.
func Check(t testing.TB, attack, expected, observed string, ok bool) {
	t.Helper()
	verdict := "ok"
	if !ok {
		verdict = "FAIL"
	}
	t.Logf("%s\t%s\t%s\t%s\t%s", Marker, verdict, clean(attack), clean(expected), clean(observed))
	if !ok {
		t.Errorf("%s: expected %s, observed %s", attack, expected, observed)
	}
}

// clean keeps a field on one line and free of the separator.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
