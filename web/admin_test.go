package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
	"gatehouse/web/webtest"
)

var userPathRe = regexp.MustCompile(`^/admin/users/(\d+)$`)

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		root := fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		ctx := context.Background()
		for i := range 30 {
			u := models.User{Username: fmt.Sprintf("user%02d", i), Nickname: fmt.Sprintf("Member %02d", i)}
			if err := app.Store.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
		}
		pct := models.User{Username: "percent", Nickname: "100% sure"}
		if err := app.Store.CreateUser(ctx, &pct); err != nil {
			t.Fatal(err)
		}

		t.Run("list pages by 25 and searches", func(t *testing.T) {
			tests := []struct {
				name, path string
				rows       int
				first      string
			}{
				{"first page holds 25 users, newest first", "/admin/users", 25, "percent"},
				{"second page holds the rest", "/admin/users?page=2", 7, "user05"},
				{"search by username", "/admin/users?q=user1", 10, "user19"},
				{"search by nickname", "/admin/users?q=member+07", 1, "user07"},
				{"percent sign is literal", "/admin/users?q=%25", 1, "percent"},
				{"no match shows no rows", "/admin/users?q=zzz", 0, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := admin.Get(tt.path)
					if r.StatusCode != http.StatusOK {
						t.Fatalf("GET %s: %d", tt.path, r.StatusCode)
					}
					rows := r.Find("[data-testid=user-row]")
					if rows.Length() != tt.rows {
						t.Fatalf("%d rows, want %d", rows.Length(), tt.rows)
					}
					if tt.first != "" && strings.TrimSpace(rows.First().Find("a").Text()) != tt.first {
						t.Fatalf("first row %q, want %q", rows.First().Find("a").Text(), tt.first)
					}
				})
			}
		})

		var newbieID int64
		t.Run("create a user: 303 to its page and an audit row", func(t *testing.T) {
			r := admin.Post("/admin/users", fxForm("username", "Newbie", "nickname", "New Bie", "email", "newbie@example.com", "mobile", "138 0000 0009", "password", "newbie-password"))
			m := userPathRe.FindStringSubmatch(r.Location())
			if r.StatusCode != http.StatusSeeOther || m == nil {
				t.Fatalf("POST /admin/users: %d %q", r.StatusCode, r.Location())
			}
			newbieID, _ = strconv.ParseInt(m[1], 10, 64)
			u := fxUserRow(t, app, newbieID)
			if u.Username != "newbie" || u.Nickname != "New Bie" || u.Email != "newbie@example.com" || u.MobileString() != "+8613800000009" || u.IsAdmin || !u.HasPassword() {
				t.Fatalf("stored user: %+v", u)
			}
			if fxAudit(t, app, "user.create", "newbie") != 1 {
				t.Fatal("no user.create audit row")
			}
			page := admin.Get(r.Location())
			if page.StatusCode != http.StatusOK || page.Find("[data-testid=flash]").Length() != 1 {
				t.Fatalf("user page after create: %d, flash %d", page.StatusCode, page.Find("[data-testid=flash]").Length())
			}
			c := app.Client()
			c.SignIn("newbie", "newbie-password")
		})

		t.Run("create with bad input: 422, errors beside fields, input kept, password never", func(t *testing.T) {
			const secret = "Kept-Out-Of-Page-123"
			before, _ := app.Store.CountUsers(ctx)
			r := admin.Post("/admin/users", fxForm("username", "bad name!", "nickname", "Keep Me", "email", "not-an-email", "mobile", "12345", "password", secret))
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			for _, f := range []string{"username", "email", "mobile"} {
				if strings.TrimSpace(r.Find("[data-testid=error-"+f+"]").Text()) == "" {
					t.Errorf("no error beside %s", f)
				}
			}
			for f, want := range map[string]string{"username": "bad name!", "nickname": "Keep Me", "email": "not-an-email", "mobile": "12345"} {
				if v, _ := r.Find("input[name=" + f + "]").Attr("value"); v != want {
					t.Errorf("%s kept as %q, want %q", f, v, want)
				}
			}
			if v, _ := r.Find("input[name=password]").Attr("value"); v != "" || strings.Contains(r.Body, secret) {
				t.Error("the password was sent back in the page")
			}
			if after, _ := app.Store.CountUsers(ctx); after != before {
				t.Error("a refused user was created")
			}
			r = admin.Post("/admin/users", fxForm("username", "user01"))
			if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-username]").Length() != 1 {
				t.Errorf("taken username: %d", r.StatusCode)
			}
			r = admin.Post("/admin/users", fxForm("username", "shorty", "password", "short"))
			if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-password]").Length() != 1 {
				t.Errorf("short password: %d", r.StatusCode)
			}
		})

		path := func() string { return "/admin/users/" + strconv.FormatInt(newbieID, 10) }
		edits := []struct {
			name  string
			form  []string
			check func(u models.User) bool
		}{
			{"edit nickname, email and mobile", []string{"nickname", "Renamed", "email", "renamed@example.com", "mobile", "+86 139-0000-0009"},
				func(u models.User) bool {
					return u.Nickname == "Renamed" && u.Email == "renamed@example.com" && u.MobileString() == "+8613900000009"
				}},
			{"disable", []string{"nickname", "Renamed", "disabled", "on"}, func(u models.User) bool { return u.Disabled }},
			{"enable and make admin", []string{"nickname", "Renamed", "is_admin", "on"}, func(u models.User) bool { return u.IsAdmin && !u.Disabled }},
			{"revoke admin", []string{"nickname", "Renamed"}, func(u models.User) bool { return !u.IsAdmin }},
		}
		for _, e := range edits {
			t.Run(e.name, func(t *testing.T) {
				r := admin.Post(path(), fxForm(e.form...))
				if r.StatusCode != http.StatusSeeOther || r.Location() != path() {
					t.Fatalf("POST %s: %d %q (%s)", path(), r.StatusCode, r.Location(), r.Find(".field-error").Text())
				}
				if u := fxUserRow(t, app, newbieID); !e.check(u) {
					t.Fatalf("stored user after %q: %+v", e.name, u)
				}
			})
		}
		if n := fxAudit(t, app, "user.update", "newbie"); n != int64(len(edits)) {
			t.Errorf("user.update audit rows: %d, want %d", n, len(edits))
		}

		t.Run("set a password, then sign in with it", func(t *testing.T) {
			r := admin.Post(path(), fxForm("nickname", "Renamed", "password", "brand-new-password"))
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("set password: %d", r.StatusCode)
			}
			if r := app.Client().Post("/signin", fxForm("username", "newbie", "password", "newbie-password")); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the old password still works: %d", r.StatusCode)
			}
			app.Client().SignIn("newbie", "brand-new-password")
		})

		rootPath := "/admin/users/" + strconv.FormatInt(root.ID, 10)
		lastAdmin := []struct {
			name, errorField string
			form             []string
		}{
			{"the last admin cannot be demoted", "is_admin", []string{"nickname", "Root"}},
			{"the last admin cannot be disabled", "disabled", []string{"nickname", "Root", "is_admin", "on", "disabled", "on"}},
		}
		for _, tt := range lastAdmin {
			t.Run(tt.name, func(t *testing.T) {
				r := admin.Post(rootPath, fxForm(tt.form...))
				if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-"+tt.errorField+"]").Length() != 1 {
					t.Fatalf("status %d, error beside %s: %d", r.StatusCode, tt.errorField, r.Find("[data-testid=error-"+tt.errorField+"]").Length())
				}
				if u := fxUserRow(t, app, root.ID); !u.IsAdmin || u.Disabled || u.Nickname != root.Nickname {
					t.Fatalf("the row changed: %+v", u)
				}
				if r := admin.Get("/admin"); r.StatusCode != http.StatusOK {
					t.Fatalf("the last admin lost access: %d", r.StatusCode)
				}
			})
		}
		t.Run("an unknown user is 404", func(t *testing.T) {
			for _, p := range []string{"/admin/users/99999", "/admin/users/abc"} {
				if r := admin.Get(p); r.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %d", p, r.StatusCode)
				}
			}
		})
	})
}

func TestAdminAuthenticators(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		ctx := context.Background()
		pw, err := app.Store.AuthenticatorByName(ctx, models.PasswordAuthenticatorName)
		if err != nil {
			t.Fatal(err)
		}
		toggle := "/admin/authenticators/" + strconv.FormatInt(pw.ID, 10) + "/toggle"
		order := func() string {
			list, err := app.Store.Authenticators(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range list {
				names = append(names, a.Name)
			}
			return strings.Join(names, ",")
		}

		t.Run("the last enabled authenticator cannot be turned off", func(t *testing.T) {
			r := admin.Post(toggle, nil)
			if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/authenticators" {
				t.Fatalf("toggle: %d %q", r.StatusCode, r.Location())
			}
			page := admin.Get("/admin/authenticators")
			if page.Find("[data-testid=flash].flash-error").Length() != 1 {
				t.Fatalf("no error flash: %q", page.Find("[data-testid=flash]").Text())
			}
			if a, _ := app.Store.AuthenticatorByID(ctx, pw.ID); !a.Enabled {
				t.Fatal("the last enabled authenticator was disabled")
			}
			if page.Find("[data-testid=authenticator-password] [data-testid=disable]").Length() != 1 {
				t.Fatal("the list does not show the password authenticator as enabled")
			}
		})

		w := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: "s3cret-value"})
		move := func(id int64, dir string) {
			t.Helper()
			r := admin.Post("/admin/authenticators/"+strconv.FormatInt(id, 10)+"/move", fxForm("direction", dir))
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("move %s: %d", dir, r.StatusCode)
			}
		}
		t.Run("move up and down changes the sign-in order", func(t *testing.T) {
			if got := order(); got != "password,corp" {
				t.Fatalf("initial order %s", got)
			}
			move(w.ID, "up")
			if got := order(); got != "corp,password" {
				t.Fatalf("after moving corp up: %s", got)
			}
			page := app.Client().Get("/signin")
			if page.Find("[data-testid=wecom-button-corp]").Length() != 1 {
				t.Fatal("no WeCom button on the sign-in page")
			}
			move(w.ID, "down")
			if got := order(); got != "password,corp" {
				t.Fatalf("after moving corp down: %s", got)
			}
			move(w.ID, "down")
			if got := order(); got != "password,corp" {
				t.Fatalf("moving the last one down changed the order: %s", got)
			}
		})
		t.Run("with another enabled, the password authenticator can be turned off and on", func(t *testing.T) {
			admin.Post(toggle, nil)
			if a, _ := app.Store.AuthenticatorByID(ctx, pw.ID); a.Enabled {
				t.Fatal("not disabled")
			}
			if r := app.Client().Post("/signin", fxForm("username", "root", "password", fxPassword)); r.StatusCode != http.StatusForbidden {
				t.Fatalf("password sign-in while the password authenticator is off: %d", r.StatusCode)
			}
			admin.Post(toggle, nil)
			if a, _ := app.Store.AuthenticatorByID(ctx, pw.ID); !a.Enabled {
				t.Fatal("not enabled again")
			}
			if n := fxAudit(t, app, "authenticator.update", "password"); n != 2 {
				t.Fatalf("authenticator.update rows: %d, want 2", n)
			}
		})
	})
}

func TestAdminAuditPage(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		fxUser(t, app, "mem", false)
		admin := fxSignedIn(t, app, "root")
		fxSignedIn(t, app, "mem")
		app.Client().Post("/signin", fxForm("username", "mem", "password", "wrong-password"))
		admin.Post("/admin/users", fxForm("username", "carol"))
		tests := []struct {
			name, query string
			actions     []string // the actions every row must have, in order
		}{
			{"exact action", "action=user.create", []string{"user.create"}},
			{"action prefix", "action=signin.", []string{"signin.failed", "signin.ok", "signin.ok"}},
			{"actor", "actor=root", []string{"user.create", "signin.ok"}},
			{"target substring", "target=me&action=signin.", []string{"signin.failed", "signin.ok"}},
			{"nothing matches", "action=nothing", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := admin.Get("/admin/audit?" + tt.query)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("status %d", r.StatusCode)
				}
				var got []string
				r.Find("[data-testid=audit-row]").Each(func(_ int, s *goquery.Selection) {
					a, _ := s.Attr("data-action")
					got = append(got, a)
				})
				if strings.Join(got, " ") != strings.Join(tt.actions, " ") {
					t.Fatalf("rows %v, want %v", got, tt.actions)
				}
			})
		}
		t.Run("paging by 50", func(t *testing.T) {
			for i := range 55 {
				if err := app.Store.Audit(context.Background(), models.Event{Action: "test.fill", Target: strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
			}
			one := admin.Get("/admin/audit?action=test.fill")
			next, _ := one.Find("[data-testid=audit-older]").Attr("href")
			two := admin.Get(next)
			if n1, n2 := one.Find("[data-testid=audit-row]").Length(), two.Find("[data-testid=audit-row]").Length(); n1 != 50 || n2 != 5 {
				t.Fatalf("pages hold %d and %d rows (next %q), want 50 and 5", n1, n2, next)
			}
			if two.Find("[data-testid=audit-older]").Length() != 0 || two.Find("[data-testid=audit-newest]").Length() != 1 {
				t.Fatal("the last page links back to the newest and not further")
			}
		})
	})
}
