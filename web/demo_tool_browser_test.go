package web_test

import (
	"testing"

	"gatehouse/web/browsertest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

// TestBrowserDemoTool: a newcomer in demo mode opens the demo "internal tool" in the WeCom client,
// clicks "Sign in with WeCom", allows on the simulated consent sheet and is back on the tool, which
// names them: another app signed in with WeCom through Gatehouse.
func TestBrowserDemoTool(t *testing.T) {
	app := webtest.New(t, "sqlite", webtest.WithDemo())
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Viewport: browsertest.Phone, Language: "zh-CN,zh"})
	tab.Navigate(t, "/_demo/tool")
	tab.WaitVisible(t, browsertest.TestID("demo-tool-signin"))
	tab.Screenshot(t, "demo-tool-signed-out")
	tab.ClickAndWait(t, browsertest.TestID("demo-tool-signin"))
	tab.WaitVisible(t, `button[value="allow"]`)
	tab.Screenshot(t, "wecom-consent")
	tab.ClickAndWait(t, `button[value="allow"]`)
	tab.WaitVisible(t, browsertest.TestID("demo-tool-hello"))
	if got := tab.Text(t, `[data-claim="preferred_username"]`); got != "zhangsan" {
		t.Fatalf("the tool names %q, want zhangsan", got)
	}
	tab.Screenshot(t, "demo-tool-signed-in")
}
