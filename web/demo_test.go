package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// The demo's five members each tell one story of the sign-in rules (issue: demo mode).
func TestDemoMode(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		tests := []struct {
			name, member, ua, path string
			wantStatus             int
			wantOutcome            string
		}{
			{"QR sign-in before any in-app one asks for the first sign-in in WeCom", "zhangsan", "", "/auth/wecom/wecom-demo/start", 403, "first_signin_in_client"},
			{"in-app sign-in matches zhangsan by mobile", "zhangsan", wecom.UserAgentIOS, "/auth/wecom/wecom-demo/start?redirect=/account", 200, ""},
			{"QR sign-in works once bound", "zhangsan", "", "/auth/wecom/wecom-demo/start?redirect=/account", 200, ""},
			{"lisi is auto-signed-up", "lisi", wecom.UserAgentAndroid, "/auth/wecom/wecom-demo/start?redirect=/account", 200, ""},
			{"wangwu is outside the visible range", "wangwu", wecom.UserAgentIOS, "/auth/wecom/wecom-demo/start", 502, "wecom_error"},
			{"sunqi refuses consent", "sunqi", wecom.UserAgentIOS, "/auth/wecom/wecom-demo/start", 403, "cancelled"},
			{"auto login from the workbench lands on /m", "lisi", wecom.UserAgentIOS, "/m", 200, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := app.Client()
				c.UserAgent = tc.ua
				c.Header(wecomtest.MemberHeader, tc.member)
				r, _ := c.Follow(tc.path)
				if r.StatusCode != tc.wantStatus || r.Outcome() != tc.wantOutcome {
					t.Fatalf("%s: status %d outcome %q, want %d %q", tc.path, r.StatusCode, r.Outcome(), tc.wantStatus, tc.wantOutcome)
				}
				if tc.wantOutcome == "" && r.Find("[data-testid=account]").Length() != 1 {
					t.Fatalf("%s: not on the account page", tc.path)
				}
			})
		}
		if _, err := app.Store.UserByUsername(context.Background(), "lisi"); err != nil {
			t.Fatalf("lisi was not created: %v", err)
		}
		r := app.Client().Get("/_wecom/cgi-bin/gettoken?corpid=" + wecomtest.DemoCorpID + "&corpsecret=wrong")
		if r.StatusCode != http.StatusOK || r.Header.Get("Error-Code") != "40001" {
			t.Fatalf("simulator under /_wecom: %d %q", r.StatusCode, r.Header.Get("Error-Code"))
		}
		if r := app.Client().Get("/signin"); r.Find("[data-testid=demo-banner]").Length() != 1 || r.Find("[data-testid=wecom-button-wecom-demo]").Length() != 1 {
			t.Fatal("the sign-in page shows no demo banner or no demo WeCom button")
		}
	}, webtest.WithDemo())
}

func TestDemoRefusesRealData(t *testing.T) {
	store := modelstest.Open(t, "sqlite")
	u := models.User{Username: "real-person"}
	if err := store.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	err := store.Migrate(context.Background(), func(ctx context.Context, s *models.Store) error { return web.ClaimDemoDatabase(ctx, s) })
	var cfgErr *web.ConfigError
	if !errors.As(err, &cfgErr) || cfgErr.Var != "GATEHOUSE_DEMO" {
		t.Fatalf("demo on a database with real users: %v", err)
	}
	if n, _ := store.CountUsers(context.Background()); n != 1 {
		t.Fatalf("the demo changed a real database: %d users", n)
	}
}
