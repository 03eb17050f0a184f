package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
)

// bindingsOf lists a user's bindings straight from the store.
func bindingsOf(t *testing.T, app *webtest.App, userID int64) []models.BindingWithAuthenticator {
	t.Helper()
	list, err := app.Store.UserBindings(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestBindByUserID: an administrator binds a user to a WeCom member by userid; Gatehouse asks
// user/get first and binds only an active, visible member nobody else is bound to (DESIGN.md §5).
func TestBindByUserID(t *testing.T) {
	tests := []struct {
		name string
		// prepare changes the world before the bind (another binding, a member's status, a fault).
		prepare       func(t *testing.T, w *wecomWorld, alice, other models.User)
		authenticator string
		userid        string
		// wantField is the field the refusal is shown beside ("" = bound, 303).
		wantField string
		wantText  string
	}{
		{"an active member is bound", nil, "corp", "alice", "", ""},
		{"a userid with spaces around is trimmed", nil, "corp", "  alice ", "", ""},
		{"a member not yet activated may be bound ahead", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			must(t, w.sim.SetMemberStatus(corpID, "alice", 4))
		}, "corp", "alice", "", ""},
		{"an unknown userid (60111) is refused", nil, "corp", "ghost", "userid", "knows no member"},
		{"46004 from user/get is refused as unknown", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			w.sim.FailNext("user/get", 1, 46004)
		}, "corp", "alice", "userid", "knows no member"},
		{"a malformed userid is refused before asking WeCom", nil, "corp", "alice wang", "userid", "1 to 64"},
		{"an empty userid is required", nil, "corp", "", "userid", "Required"},
		{"a member outside the visible range (60011) is refused", nil, "corp", "carol", "userid", "visible range"},
		{"a member who left (status 5) is refused", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			must(t, w.sim.SetMemberStatus(corpID, "alice", 5))
		}, "corp", "alice", "userid", "left"},
		{"a disabled member (status 2) is refused", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			must(t, w.sim.SetMemberStatus(corpID, "alice", 2))
		}, "corp", "alice", "userid", "disabled"},
		{"WeCom failing (48002) binds nothing and says what WeCom answered", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			w.sim.FailNext("user/get", 1, 48002)
		}, "corp", "alice", "userid", "48002"},
		{"WeCom unreachable binds nothing and says so", func(t *testing.T, w *wecomWorld, _, _ models.User) {
			w.sim.SetDown(true)
		}, "corp", "alice", "userid", "could not be reached"},
		{"an unknown authenticator is refused", nil, "nope", "alice", "authenticator", "enabled WeCom"},
		{"the password authenticator is refused", nil, "password", "alice", "authenticator", "enabled WeCom"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					w, admin := adminWorld(t, dialect, worldSpec{})
					alice := w.app.CreateUser("alice", "", false, "")
					other := w.app.CreateUser("other", "", false, "")
					if tt.prepare != nil {
						tt.prepare(t, w, alice, other)
					}
					r := admin.Post("/admin/users/"+itoa(alice.ID)+"/bindings", url.Values{"authenticator": {tt.authenticator}, "userid": {tt.userid}})
					list := bindingsOf(t, w.app, alice.ID)
					if tt.wantField == "" {
						if r.StatusCode != http.StatusSeeOther || r.Location() != "/admin/users/"+itoa(alice.ID) {
							t.Fatalf("bind: %d %q %s", r.StatusCode, r.Location(), r.Find("[data-testid^=error-]").Text())
						}
						if len(list) != 1 || list[0].Subject != "alice" || list[0].CorpID != corpID || list[0].AuthenticatorID != w.a.ID {
							t.Fatalf("bindings = %+v", list)
						}
						ev, detail := lastAudit(t, w.app, models.ActionBindingCreate)
						if ev.Target != "alice" || detail["by"] != "admin" || detail["authenticator"] != "corp" {
							t.Errorf("audit = %+v %v", ev, detail)
						}
						return
					}
					if r.StatusCode != http.StatusUnprocessableEntity {
						t.Fatalf("status = %d, want 422", r.StatusCode)
					}
					if got := r.Find("[data-testid=error-" + tt.wantField + "]").Text(); !strings.Contains(got, tt.wantText) {
						t.Errorf("error beside %s = %q, want it to say %q", tt.wantField, got, tt.wantText)
					}
					if got := r.Find("#f-userid").AttrOr("value", ""); got != tt.userid {
						t.Errorf("typed userid not kept: %q", got)
					}
					if len(list) != 0 {
						t.Errorf("bound anyway: %+v", list)
					}
				})
			}
		})
	}
}

// TestSecurityBindRefusesTakeover: an administrator cannot bind a WeCom member already bound to
// someone else (that would hand the other account to whoever signs in as the member), nor give a user
// a second binding at one authenticator.
func TestSecurityBindRefusesTakeover(t *testing.T) {
	tests := []struct {
		name      string
		existing  func(t *testing.T, w *wecomWorld, alice, other models.User)
		wantField string
	}{
		{"member bound to another user", func(t *testing.T, w *wecomWorld, _, other models.User) { w.bind(t, w.a, other, "alice") }, "userid"},
		{"user already bound at the authenticator", func(t *testing.T, w *wecomWorld, alice, _ models.User) { w.bind(t, w.a, alice, "bob") }, "authenticator"},
		{"user already bound to that member", func(t *testing.T, w *wecomWorld, alice, _ models.User) { w.bind(t, w.a, alice, "alice") }, "userid"},
	}
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					w, admin := adminWorld(t, dialect, worldSpec{})
					alice := w.app.CreateUser("alice", "", false, "")
					other := w.app.CreateUser("other", "", false, "")
					tt.existing(t, w, alice, other)
					before := bindingsOf(t, w.app, other.ID)
					r := admin.Post("/admin/users/"+itoa(alice.ID)+"/bindings", url.Values{"authenticator": {"corp"}, "userid": {"alice"}})
					if r.StatusCode != http.StatusUnprocessableEntity || r.Find("[data-testid=error-"+tt.wantField+"]").Length() == 0 {
						t.Fatalf("status %d, error beside %s: %q", r.StatusCode, tt.wantField, r.Find(".field-error").Text())
					}
					if after := bindingsOf(t, w.app, other.ID); len(after) != len(before) {
						t.Errorf("other's bindings changed: %+v → %+v", before, after)
					}
				})
			}
		})
	}
}

// TestUserPageBindings: the user page lists each binding with what WeCom says of the member now, in
// English and Chinese, the bind form and the user's sessions.
func TestUserPageBindings(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w, admin := adminWorld(t, dialect, worldSpec{})
		alice := w.app.CreateUser("alice", "alice-password-1", false, "")
		w.bind(t, w.a, alice, "alice")
		second := w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "second", Title: "Second", CorpID: corpID, AgentID: agentID, Secret: secret})
		w.bind(t, second, alice, "ghost")
		must(t, w.sim.SetMemberStatus(corpID, "alice", 4))
		member := w.app.Client()
		member.SignIn("alice", "alice-password-1")

		for _, lang := range []struct{ code, status, unknown, sessions string }{
			{"en", "Not activated", "60111", "Password"},
			{"zh-Hans", "未激活", "60111", "密码"},
		} {
			admin.Language = lang.code
			r := admin.Get("/admin/users/" + itoa(alice.ID))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%s: user page %d", lang.code, r.StatusCode)
			}
			rows := r.Find("[data-testid=binding-row]")
			if rows.Length() != 2 {
				t.Fatalf("%s: %d binding rows", lang.code, rows.Length())
			}
			first := r.Find("[data-testid=binding-row][data-subject=alice]")
			if got := first.Find("[data-testid=member-name]").Text(); got != "Alice Wang" {
				t.Errorf("%s: member name %q", lang.code, got)
			}
			if got := first.Find("[data-testid=member-status]").Text(); !strings.Contains(got, lang.status) {
				t.Errorf("%s: member status %q, want %q", lang.code, got, lang.status)
			}
			if got := first.Text(); !strings.Contains(got, corpID) {
				t.Errorf("%s: corp missing from %q", lang.code, got)
			}
			if got := r.Find("[data-testid=binding-row][data-subject=ghost] [data-testid=member-status]").Text(); !strings.Contains(got, lang.unknown) {
				t.Errorf("%s: gone member shows %q", lang.code, got)
			}
			if r.Find("[data-testid=bind-form] select[name=authenticator] option[value=corp]").Length() != 1 {
				t.Errorf("%s: bind form lacks the corp authenticator", lang.code)
			}
			sessions := r.Find("[data-testid=user-sessions] [data-testid=session-row]")
			if sessions.Length() != 1 || !strings.Contains(sessions.Text(), lang.sessions) {
				t.Errorf("%s: sessions %d %q", lang.code, sessions.Length(), sessions.Text())
			}
		}
	})
}

// TestUserPageStaysFastWhenWeComIsSlow: a WeCom that does not answer costs the page at most the
// check timeout, and the page still shows the bindings.
func TestUserPageStaysFastWhenWeComIsSlow(t *testing.T) {
	w, admin := adminWorld(t, "sqlite", worldSpec{})
	alice := w.app.CreateUser("alice", "", false, "")
	w.bind(t, w.a, alice, "alice")
	w.sim.SetLatency(4 * time.Second)
	t.Cleanup(func() { w.sim.SetLatency(0) })
	start := time.Now()
	r := admin.Get("/admin/users/" + itoa(alice.ID))
	if took := time.Since(start); took > auth.CheckTimeout+time.Second {
		t.Errorf("the page took %v with WeCom not answering", took)
	}
	if r.Find("[data-testid=member-status]").Length() != 1 {
		t.Errorf("no status shown for the unanswered check")
	}
	if r.StatusCode != http.StatusOK || r.Find("[data-testid=binding-row]").Length() != 1 {
		t.Fatalf("user page %d with %d bindings", r.StatusCode, r.Find("[data-testid=binding-row]").Length())
	}
}

// TestAdminUnbindAsksFirst: unbinding shows a confirmation page; only the confirmed POST unbinds,
// audits and ends the sessions made through the binding.
func TestAdminUnbindAsksFirst(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w, admin := adminWorld(t, dialect, worldSpec{})
		alice := w.app.CreateUser("alice", "", false, "")
		b := w.bind(t, w.a, alice, "alice")
		viaWeCom := w.app.Client()
		if r := w.signIn(t, viaWeCom, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
			t.Fatalf("WeCom sign-in: %d %q", r.StatusCode, r.Outcome())
		}
		path := "/admin/users/" + itoa(alice.ID) + "/bindings/" + itoa(b.ID) + "/delete"
		r := admin.Post(path, nil)
		if r.StatusCode != http.StatusOK || r.Find("[data-testid=unbind-confirm] input[name=confirm][value=yes]").Length() != 1 {
			t.Fatalf("unconfirmed unbind: %d, no confirmation form", r.StatusCode)
		}
		if len(bindingsOf(t, w.app, alice.ID)) != 1 {
			t.Fatal("unbound without confirmation")
		}
		if r := admin.Post(path, url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirmed unbind: %d", r.StatusCode)
		}
		if len(bindingsOf(t, w.app, alice.ID)) != 0 {
			t.Fatal("still bound")
		}
		if _, detail := lastAudit(t, w.app, models.ActionBindingDelete); detail["by"] != "admin" || detail["sessions_ended"] != float64(1) {
			t.Errorf("audit detail %v", detail)
		}
		if r := viaWeCom.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the WeCom session lives on: %d", r.StatusCode)
		}
	})
}

// TestAccountUnbind: members unbind their own binding after confirming, when a password or another
// binding remains; the sessions made through it end.
func TestAccountUnbind(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect, worldSpec{})
		alice := w.app.CreateUser("alice", "alice-password-1", false, "")
		b := w.bind(t, w.a, alice, "alice")
		viaWeCom := w.app.Client()
		if r := w.signIn(t, viaWeCom, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
			t.Fatalf("WeCom sign-in: %d %q", r.StatusCode, r.Outcome())
		}
		c := w.app.Client()
		c.SignIn("alice", "alice-password-1")
		for _, page := range []string{"/account", "/m"} {
			if n := c.Get(page).Find("[data-testid=binding-row] [data-testid=unbind]").Length(); n != 1 {
				t.Fatalf("%s: %d unbind buttons", page, n)
			}
		}
		path := "/account/bindings/" + itoa(b.ID) + "/delete"
		if r := c.Post(path, url.Values{"from": {"m"}}); r.StatusCode != http.StatusOK || r.Find("[data-testid=unbind-confirm] input[name=from][value=m]").Length() != 1 {
			t.Fatalf("unconfirmed: %d", r.StatusCode)
		}
		r := c.Post(path, url.Values{"confirm": {"yes"}, "from": {"m"}})
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/m" {
			t.Fatalf("confirmed: %d %q", r.StatusCode, r.Location())
		}
		if len(bindingsOf(t, w.app, alice.ID)) != 0 {
			t.Fatal("still bound")
		}
		if _, detail := lastAudit(t, w.app, models.ActionBindingDelete); detail["by"] != "self" || detail["sessions_ended"] != float64(1) {
			t.Errorf("audit detail %v", detail)
		}
		if r := viaWeCom.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the WeCom session lives on: %d", r.StatusCode)
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("the password session ended: %d", r.StatusCode)
		}
	})
}

// TestSecurityMemberCannotRemoveLastSignIn: a member whose only way in is one WeCom binding is shown
// no unbind button, and a forged POST leaves the binding.
func TestSecurityMemberCannotRemoveLastSignIn(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect, worldSpec{})
		alice := w.app.CreateUser("alice", "", false, "")
		b := w.bind(t, w.a, alice, "alice")
		c := w.app.Client()
		if r := w.signIn(t, c, "alice", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK {
			t.Fatalf("WeCom sign-in: %d %q", r.StatusCode, r.Outcome())
		}
		page := c.Get("/account")
		if page.Find("[data-testid=unbind]").Length() != 0 || page.Find("[data-testid=unbind-last]").Length() != 1 {
			t.Errorf("the only binding offers an unbind button")
		}
		r := c.Post("/account/bindings/"+itoa(b.ID)+"/delete", url.Values{"confirm": {"yes"}})
		if r.StatusCode != http.StatusSeeOther || r.Location() != "/account" {
			t.Fatalf("forged unbind: %d %q", r.StatusCode, r.Location())
		}
		if len(bindingsOf(t, w.app, alice.ID)) != 1 {
			t.Fatal("the last way to sign in was removed")
		}
		if r := c.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("session ended: %d", r.StatusCode)
		}
	})
}

// TestSecurityMemberCannotUnbindOthers: a member cannot remove another user's binding by its id.
func TestSecurityMemberCannotUnbindOthers(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect, worldSpec{})
		w.app.CreateUser("mallory", "mallory-password-1", false, "")
		bob := w.app.CreateUser("bob", "bob-password-1", false, "")
		b := w.bind(t, w.a, bob, "bob")
		c := w.app.Client()
		c.SignIn("mallory", "mallory-password-1")
		for _, form := range []url.Values{nil, {"confirm": {"yes"}}} {
			if r := c.Post("/account/bindings/"+itoa(b.ID)+"/delete", form); r.StatusCode != http.StatusNotFound {
				t.Errorf("confirm=%q: %d, want 404", form.Get("confirm"), r.StatusCode)
			}
		}
		if len(bindingsOf(t, w.app, bob.ID)) != 1 {
			t.Fatal("bob's binding was removed")
		}
	})
}

// TestSecurityMemberCannotBind: binding by userid is for administrators only.
func TestSecurityMemberCannotBind(t *testing.T) {
	w := newWorld(t, "sqlite", worldSpec{})
	mallory := w.app.CreateUser("mallory", "mallory-password-1", false, "")
	c := w.app.Client()
	c.SignIn("mallory", "mallory-password-1")
	r := c.Post("/admin/users/"+itoa(mallory.ID)+"/bindings", url.Values{"authenticator": {"corp"}, "userid": {"alice"}})
	if r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusNotFound {
		t.Errorf("member bind: %d", r.StatusCode)
	}
	if len(bindingsOf(t, w.app, mallory.ID)) != 0 {
		t.Fatal("a member bound themselves to another member")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// webtestDialects runs fn once per database.
func webtestDialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range modelstest.Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}
