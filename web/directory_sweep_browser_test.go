package web_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/web/browsertest"
)

// TestBrowserDirectorySweepDashboard: the dashboard shows the directory sweep's last round in a block of
// its own, in English and in Chinese.
func TestBrowserDirectorySweepDashboard(t *testing.T) {
	w, _ := sweepWorld(t, "sqlite")
	if err := w.app.Gatehouse.SweepDirectoryOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	for _, lang := range []struct{ accept, state, left string }{
		{"en", "Every 1h", "Cut off"},
		{"zh-CN,zh", "每 1h", "已停用"},
	} {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: lang.accept})
		signInWithPassword(t, tab, "root", "Root-Password-123")
		tab.Navigate(t, "/admin")
		tab.WaitVisible(t, tid("directory-sweep"))
		wantText(t, tab, tid("sweep-state"), lang.state)
		wantText(t, tab, tid("directory-sweep"), lang.left)
		wantText(t, tab, tid("sweep-checked"), "5")
		wantText(t, tab, tid("sweep-left"), "3")
		wantText(t, tab, tid("sweep-back"), "1")
		wantText(t, tab, tid("sweep-errors"), "1")
		tab.Screenshot(t, "dashboard-sweep-"+lang.accept)
	}

	// A round in progress that WeCom throttled.
	ctx := context.Background()
	now := time.Now().UTC()
	round, err := w.app.Store.StartSweepRound(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	until := now.Add(time.Minute)
	must(t, w.app.Store.RecordSweptMember(ctx, models.DirectorySweepCursor{AuthenticatorID: w.a.ID, RoundID: round.ID, LastBindingID: 2}, models.SweepCounts{Checked: 2, Left: 1}))
	must(t, w.app.Store.SaveSweepCursor(ctx, models.DirectorySweepCursor{AuthenticatorID: w.a.ID, RoundID: round.ID, LastBindingID: 2, PausedUntil: &until, Backoffs: 1}))
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: w.app.URL(), Language: "en"})
	signInWithPassword(t, tab, "root", "Root-Password-123")
	tab.Navigate(t, "/admin")
	wantText(t, tab, tid("sweep-state"), "Round in progress")
	wantText(t, tab, tid("sweep-current"), "checked 2, cut off 1, errors 0")
	wantText(t, tab, tid("sweep-paused"), "corp")
	wantText(t, tab, tid("sweep-next"), "After the round in progress")
	tab.Screenshot(t, "dashboard-sweep-paused")
}
