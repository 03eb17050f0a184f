package web_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/securitytest"
	"gatehouse/web/webtest"
)

func TestDirectorySyncConfig(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{"", time.Hour, false},
		{"0", 0, false},
		{"30m", 30 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"1m", time.Minute, false},
		{"30s", 0, true}, // under a minute: WeCom's budget is per minute
		{"-1h", 0, true}, // negative
		{"1d", 0, true},  // not a Go duration
		{"off", 0, true}, // only 0 turns it off
		{"60", 0, true},  // no unit
		{" 2h ", 2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := web.LoadConfig(func(k string) string {
				if k == "GATEHOUSE_DIRECTORY_SYNC" {
					return tt.value
				}
				return ""
			})
			if tt.bad {
				var ce *web.ConfigError
				if !errors.As(err, &ce) || ce.Var != "GATEHOUSE_DIRECTORY_SYNC" || !strings.Contains(err.Error(), strconv.Quote(strings.TrimSpace(tt.value))) {
					t.Fatalf("LoadConfig: %v, want an error naming GATEHOUSE_DIRECTORY_SYNC and the value", err)
				}
				return
			}
			if err != nil || c.DirectorySync != tt.want {
				t.Fatalf("DirectorySync = %v (%v), want %v", c.DirectorySync, err, tt.want)
			}
		})
	}
}

// fastSweep lets the sweep call the simulator without pacing pauses.
func fastSweep(_ *web.Config, o *web.Options) {
	o.DirectorySweep = directory.SweepOptions{Rate: 1000, Burst: 1000}
}

// sweepWorld is a WeCom world whose members are bound: dave (user/get fails once: an error), alice
// (active), bob (left), carol (outside the visible range), ghost (not in WeCom), erin (cut off
// earlier, active again).
func sweepWorld(t *testing.T, dialect string, opts ...webtest.Option) (*wecomWorld, *webtest.Client) {
	t.Helper()
	w := newWorld(t, dialect, worldSpec{AppOptions: append([]webtest.Option{fastSweep, webtest.WithMetrics()}, opts...)})
	w.app.CreateUser("root", "Root-Password-123", true, "")
	for _, name := range []string{"dave", "alice", "bob", "carol", "ghost", "erin"} {
		w.bind(t, w.a, w.app.CreateUser(name, "", false, ""), name)
	}
	must(t, w.sim.SetMemberStatus(corpID, "bob", models.MemberLeft))
	if _, err := w.app.Store.CutOffMember(context.Background(), w.a.ID, "erin", models.MemberLeft, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	w.sim.FailNext("user/get", 1, 46004) // dave's call: not a definite answer
	admin := w.app.Client()
	admin.SignIn("root", "Root-Password-123")
	return w, admin
}

func sweepText(r *webtest.Response, testid string) string {
	return strings.Join(strings.Fields(r.Find("[data-testid="+testid+"]").Text()), " ")
}

// TestDirectorySweepDashboardAndMetrics: the dashboard shows the sweep's last round (started, finished,
// checked, left, back, errors) and when the next is due; /metrics counts the members by result and
// reports the last round.
func TestDirectorySweepDashboardAndMetrics(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) { dashboardAndMetrics(t, dialect) })
	}
}

func dashboardAndMetrics(t *testing.T, dialect string) {
	w, admin := sweepWorld(t, dialect)
	r := admin.Get("/admin")
	if r.StatusCode != http.StatusOK || r.Find("[data-testid=sweep-none]").Length() != 1 || sweepText(r, "sweep-state") != "Every 1h" {
		t.Fatalf("before any round: %d, state %q, none %d", r.StatusCode, sweepText(r, "sweep-state"), r.Find("[data-testid=sweep-none]").Length())
	}
	before := time.Now().UTC()
	if err := w.app.Gatehouse.SweepDirectoryOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = admin.Get("/admin")
	for testid, want := range map[string]string{"sweep-checked": "5", "sweep-left": "3", "sweep-back": "1", "sweep-errors": "1", "sweep-state": "Every 1h"} {
		if got := sweepText(r, testid); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	next, err := time.Parse("2006-01-02 15:04 UTC", sweepText(r, "sweep-next"))
	if err != nil || next.Before(before.Add(59*time.Minute)) || next.After(before.Add(61*time.Minute)) {
		t.Errorf("next round %q, want about an hour from now", sweepText(r, "sweep-next"))
	}
	if !strings.Contains(sweepText(r, "sweep-finished"), "UTC") {
		t.Errorf("finished = %q", sweepText(r, "sweep-finished"))
	}

	m := admin
	m.Header("Authorization", "Bearer "+webtest.MetricsToken)
	body := string(m.Get("/metrics").Body)
	for _, want := range []string{
		`gatehouse_directory_sweep_members_total{result="active"} 1`,
		`gatehouse_directory_sweep_members_total{result="left"} 3`,
		`gatehouse_directory_sweep_members_total{result="back"} 1`,
		`gatehouse_directory_sweep_members_total{result="error"} 1`,
		`gatehouse_directory_sweep_last_round_members{count="checked"} 5`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	ts := regexp.MustCompile(`(?m)^gatehouse_directory_sweep_last_round_timestamp_seconds (\S+)$`).FindStringSubmatch(body)
	if ts == nil {
		t.Fatal("/metrics lacks the last round's timestamp")
	}
	if v, _ := strconv.ParseFloat(ts[1], 64); v < float64(before.Unix()-1) {
		t.Errorf("last round timestamp %s, want after %d", ts[1], before.Unix())
	}
	if !regexp.MustCompile(`(?m)^gatehouse_directory_sweep_last_round_duration_seconds \S+$`).MatchString(body) {
		t.Error("/metrics lacks the last round's duration")
	}

	// A round in progress shows as such.
	if _, err := w.app.Store.StartSweepRound(context.Background(), time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	r = admin.Get("/admin")
	if r.Find("[data-testid=sweep-current]").Length() != 1 || sweepText(r, "sweep-checked") != "5" {
		t.Errorf("round in progress: current %d, last checked %q", r.Find("[data-testid=sweep-current]").Length(), sweepText(r, "sweep-checked"))
	}
}

// TestDirectorySweepOff: with GATEHOUSE_DIRECTORY_SYNC=0 the dashboard says the sweep is off and it
// calls nobody.
func TestDirectorySweepOff(t *testing.T) {
	w, admin := sweepWorld(t, "sqlite", func(c *web.Config, _ *web.Options) { c.DirectorySync = 0 })
	w.sim.ResetCalls()
	if err := w.app.Gatehouse.SweepDirectoryOnce(context.Background()); err != nil || w.sim.Calls("user/get") != 0 {
		t.Fatalf("sweep off: %d calls, %v", w.sim.Calls("user/get"), err)
	}
	r := admin.Get("/admin")
	if sweepText(r, "sweep-state") != "Off" || r.Find("[data-testid=sweep-off]").Length() != 1 {
		t.Errorf("state %q, off text %d", sweepText(r, "sweep-state"), r.Find("[data-testid=sweep-off]").Length())
	}
	admin.Language = "zh-Hans"
	if r = admin.Get("/admin"); sweepText(r, "sweep-state") != "已关闭" {
		t.Errorf("zh state %q", sweepText(r, "sweep-state"))
	}
}

// TestSecurityDirectorySweepRunsWithServer: a serving Gatehouse sweeps on its own at start-up, cutting
// off a member who left (every session ended), and the sweep stops with the server.
func TestSecurityDirectorySweepRunsWithServer(t *testing.T) {
	w, _ := sweepWorld(t, "sqlite")
	bob, err := w.app.Store.UserByUsername(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	must(t, w.app.Store.CreateSession(context.Background(), &models.Session{ID: "bob-session", UserID: bob.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- w.app.Gatehouse.Serve(ctx, ln) }()
	observed := "session still live after 5 s"
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, _, err := w.app.Store.ActiveSession(context.Background(), "bob-session", time.Now().UTC()); err != nil {
			observed = "session ended by the sweep"
			break
		}
	}
	securitytest.Report(t, "member left WeCom while Gatehouse was down; Gatehouse starts", "session ended by the sweep", observed)
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
}

// TestDirectorySweepPausedOnDashboard: a round WeCom throttled (45009) shows as in progress, with the
// authenticator it waits for, and /metrics counts the pause.
func TestDirectorySweepPausedOnDashboard(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w, admin := sweepWorld(t, dialect)
			w.sim.FailNext("user/get", 1, 45009) // after dave's 46004: alice's call is throttled
			if err := w.app.Gatehouse.SweepDirectoryOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := admin.Get("/admin")
			if got := sweepText(r, "sweep-state"); got != "Round in progress" {
				t.Errorf("state %q", got)
			}
			if got := sweepText(r, "sweep-paused"); !strings.Contains(got, "“corp”") || !strings.Contains(got, "UTC") {
				t.Errorf("paused line %q, want the authenticator and a time", got)
			}
			if got := sweepText(r, "sweep-current"); !strings.Contains(got, "checked 0, cut off 0, errors 1") {
				t.Errorf("current round %q, want dave's error counted and nobody checked yet", got)
			}
			admin.Header("Authorization", "Bearer "+webtest.MetricsToken)
			if body := string(admin.Get("/metrics").Body); !strings.Contains(body, `gatehouse_directory_sweep_pauses_total{reason="throttled"} 1`) {
				t.Error("/metrics lacks the pause")
			}
		})
	}
}
