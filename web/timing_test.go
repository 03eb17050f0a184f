package web_test

import "testing"

// timingTest marks a test that measures time (answers within 2 s, a password sign-in no slower while
// WeCom hangs, equal timing for unknown and known users). The race detector slows bcrypt and every
// request several times over, unevenly, so such a test would measure the detector, not Gatehouse: it
// runs without it, in `go tool task security`, which CI runs after the race run.
func timingTest(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("timing test: runs without the race detector in `go tool task security`")
	}
}
