package web_test

import (
	"context"
	"testing"

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
}
