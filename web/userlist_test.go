package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/web/webtest"
)

func TestAdminUsersFiltersAndExport(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		ctx := context.Background()
		a1 := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp1", CorpID: "ww1", AgentID: 1, Secret: "s"})
		a2 := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp2", CorpID: "ww2", AgentID: 2, Secret: "s"})
		mk := func(name string, disabled bool, at ...models.Authenticator) {
			u := models.User{Username: name, Nickname: "张三 " + name, Disabled: disabled}
			if name == "formula" {
				u.Nickname = "=HYPERLINK(\"http://evil\")"
			}
			if err := app.Store.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			for _, a := range at {
				if err := app.Store.CreateBinding(ctx, &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: name + "." + a.Name}); err != nil {
					t.Fatal(err)
				}
			}
		}
		mk("both", false, a1, a2)
		mk("one", false, a1)
		mk("two", true, a2)
		mk("none", false)
		mk("formula", true)

		tests := []struct {
			name, query string
			want        []string // usernames, newest first
		}{
			{"everyone", "", []string{"formula", "none", "two", "one", "both", "root"}},
			{"has a WeCom binding", "bound=yes", []string{"two", "one", "both"}},
			{"has no WeCom binding", "bound=no", []string{"formula", "none", "root"}},
			{"bound at one authenticator", fmt.Sprintf("bound=yes&authenticator=%d", a1.ID), []string{"one", "both"}},
			{"not bound at one authenticator", fmt.Sprintf("bound=no&authenticator=%d", a1.ID), []string{"formula", "none", "two", "root"}},
			{"disabled", "disabled=yes", []string{"formula", "two"}},
			{"active and bound, searched", "disabled=no&bound=yes&q=o", []string{"one", "both"}},
			{"unknown values filter nothing", "bound=maybe&disabled=%00&authenticator=x", []string{"formula", "none", "two", "one", "both", "root"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := admin.Get("/admin/users?" + tt.query)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("status %d", r.StatusCode)
				}
				var got []string
				r.Find("[data-testid=user-row] td:first-child a").Each(func(_ int, s *goquery.Selection) { got = append(got, s.Text()) })
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Errorf("list %v, want %v", got, tt.want)
				}
				exp := admin.Get("/admin/users/export?" + tt.query)
				if exp.StatusCode != http.StatusOK || !strings.HasPrefix(exp.Body, "\xEF\xBB\xBF") || !strings.HasPrefix(exp.Header.Get("Content-Type"), "text/csv") {
					t.Fatalf("export: %d %q", exp.StatusCode, exp.Header.Get("Content-Type"))
				}
				recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(exp.Body, "\xEF\xBB\xBF"))).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, rec := range recs[1:] {
					names = append(names, rec[1])
				}
				if strings.Join(names, ",") != strings.Join(tt.want, ",") {
					t.Errorf("export %v, want %v", names, tt.want)
				}
			})
		}

		t.Run("the export link keeps the filters", func(t *testing.T) {
			r := admin.Get("/admin/users?bound=yes&disabled=no")
			if href := r.Find("[data-testid=users-export]").AttrOr("href", ""); href != "/admin/users/export?bound=yes&disabled=no" {
				t.Errorf("export link %q", href)
			}
		})

		t.Run("export lists bindings and keeps Chinese as UTF-8", func(t *testing.T) {
			r := admin.Get("/admin/users/export?q=both")
			if !strings.Contains(r.Body, "张三 both") || !strings.Contains(r.Body, "corp1:both.corp1 corp2:both.corp2") {
				t.Errorf("export %q", r.Body)
			}
		})
	})
}

func TestSecurityUserExportEscapesFormulas(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		for i, nick := range []string{"=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)"} {
			u := models.User{Username: fmt.Sprintf("u%d", i), Nickname: nick}
			if err := app.Store.CreateUser(context.Background(), &u); err != nil {
				t.Fatal(err)
			}
		}
		r := admin.Get("/admin/users/export")
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.Body, "\xEF\xBB\xBF"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("cell %q would run as a formula", cell)
				}
			}
		}
	})
}
