package web_test

import (
	"context"
	"testing"

	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// TestDemoDirectory: the demo corp's departments (a nested tree with Chinese names) and tags are known
// before anyone signs in, the demo group takes R&D by rule, and zhangsan's first sign-in shows his
// department path and tags on his account page.
func TestDemoDirectory(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		ctx := context.Background()
		a, err := app.Store.AuthenticatorByName(ctx, "wecom-demo")
		if err != nil {
			t.Fatal(err)
		}
		depts, err := app.Store.DirectoryDepartments(ctx, a.ID)
		if err != nil || len(depts) != 6 || depts[2].Name != "后端组" || depts[2].ParentID != wecomtest.DemoDeptRD {
			t.Errorf("demo departments = %+v, %v", depts, err)
		}
		if tags, err := app.Store.DirectoryTags(ctx, a.ID); err != nil || len(tags) != 2 {
			t.Errorf("demo tags = %+v, %v", tags, err)
		}
		groups, err := app.Store.Groups(ctx)
		if err != nil || len(groups) != 1 || groups[0].Rules != "dept:wecom-demo:2" {
			t.Errorf("demo groups = %+v, %v", groups, err)
		}
		c := app.Client()
		c.UserAgent = wecom.UserAgentIOS
		c.Header(wecomtest.MemberHeader, "zhangsan")
		r, _ := c.Follow("/auth/wecom/wecom-demo/start?redirect=/account")
		if got := r.Find(`[data-testid="directory-department"]`).Text(); got != "Gatehouse 演示公司 / 研发部 / 后端组" {
			t.Errorf("zhangsan's department = %q", got)
		}
		if got := r.Find(`[data-testid="directory-tag"]`).Length(); got != 2 {
			t.Errorf("zhangsan's tags = %d, want 2", got)
		}
	}, webtest.WithDemo())
}
