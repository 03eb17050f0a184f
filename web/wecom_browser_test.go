package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/web/browsertest"
	"gatehouse/wecom"
)

// A normal desktop browser: what the sign-in start treats as "not the WeCom client".
const desktopBrowserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36"

// TestBrowserWeComAuthenticatorAdmin: an administrator adds a WeCom authenticator through the admin
// pages, finds what to paste into the WeCom admin console, tests the connection, breaks the secret
// (the test names errcode 40001 and the fix), and repairs it. The secret is never sent back.
func TestBrowserWeComAuthenticatorAdmin(t *testing.T) {
	t.Parallel()
	w := newWeComWorld(t, "sqlite", false)
	app := w.app
	app.CreateUser("root", "correct-horse-battery", true, "")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Desktop})
	const wrongSecret = "wrong-secret-ffffffffffffffffffffffffffffffff"

	signInWithPassword(t, tab, "root", "correct-horse-battery")
	tab.ClickAndWait(t, tid("nav-authenticators"))
	if got := tab.Path(t); got != "/admin/authenticators" {
		t.Fatalf("Authenticators link led to %s", got)
	}
	tab.WaitVisible(t, tid("authenticator-corp"))
	tab.Screenshot(t, "authenticators")

	tab.ClickAndWait(t, tid("new-wecom"))
	if got := tab.Path(t); got != "/admin/authenticators/new?type=wecom" {
		t.Fatalf("Add WeCom authenticator led to %s", got)
	}
	tab.WaitVisible(t, tid("wecom-form"))
	if n := tab.Count(t, tid("paste-into-wecom")); n != 0 {
		t.Errorf("the new form already shows %d paste blocks", n)
	}
	tab.Screenshot(t, "new-form")

	tab.SetValue(t, "#f-title", "Acme WeCom")
	tab.SetValue(t, "#f-name", "acme")
	tab.SetValue(t, "#f-corp_id", corpID)
	tab.SetValue(t, "#f-agent_id", "1000002")
	tab.SetValue(t, "#f-secret", secret)
	tab.SetValue(t, "#f-origin", app.URL())
	if !browsertest.Eval[bool](t, tab, `document.querySelector("input[name=auto_signup]").checked`) {
		tab.Click(t, "input[name=auto_signup]")
	}
	if !browsertest.Eval[bool](t, tab, `document.querySelector("input[name=enabled]").checked`) {
		t.Error("a new authenticator's Enabled box is not ticked by default")
	}
	browsertest.Eval[bool](t, tab, "window.scrollTo(0, 0), true") // the click scrolled; the sidebar is sticky
	tab.Screenshot(t, "new-form-filled")

	if status := tab.ClickAndWait(t, tid("wecom-save")); status != http.StatusOK {
		t.Fatalf("create: status %d", status)
	}
	editPath := tab.Path(t)
	if !regexp.MustCompile(`^/admin/authenticators/[0-9]+$`).MatchString(editPath) {
		t.Fatalf("after creating at %s, want the edit page", editPath)
	}
	wantText(t, tab, tid("flash"), "Acme WeCom")
	wantText(t, tab, "h1", "Acme WeCom")
	tab.WaitVisible(t, tid("paste-into-wecom"))
	wantValue(t, tab, tid("paste-callback"), app.URL()+"/auth/wecom/acme/callback")
	wantValue(t, tab, tid("paste-domain"), strings.TrimPrefix(app.URL(), "http://"))
	wantValue(t, tab, "#f-secret", "")
	wantSecretNotOnPage(t, tab, secret)
	stored, err := app.Store.AuthenticatorByName(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Enabled || !stored.Options.AutoSignup || stored.Options.CorpID != corpID || stored.Options.AgentID != agentID || stored.Options.Origin != app.URL() {
		t.Errorf("stored authenticator: enabled %v auto_signup %v corp %q agent %d origin %q",
			stored.Enabled, stored.Options.AutoSignup, stored.Options.CorpID, stored.Options.AgentID, stored.Options.Origin)
	}
	tab.Screenshot(t, "created")

	testConnection(t, tab, "ok")
	if got := tab.Path(t); got != editPath {
		t.Errorf("the connection test came back to %s, want %s", got, editPath)
	}
	tab.Screenshot(t, "test-ok")

	// A wrong secret: saved, then the test says 40001 with the fix, and still shows no secret.
	tab.SetValue(t, "#f-secret", wrongSecret)
	tab.ClickAndWait(t, tid("wecom-save"))
	wantText(t, tab, tid("flash"), "Acme WeCom")
	wantValue(t, tab, "#f-secret", "")
	testConnection(t, tab, "error")
	if code := browsertest.Eval[string](t, tab, `document.querySelector("[data-testid=connection-test]").dataset.errcode`); code != "40001" {
		t.Errorf("the failed test shows errcode %q, want 40001", code)
	}
	wantText(t, tab, tid("connection-test"), "40001")
	wantText(t, tab, tid("connection-test"), "Invalid Secret")
	wantText(t, tab, tid("connection-test"), "Check the Secret")
	wantValue(t, tab, "#f-secret", "")
	wantSecretNotOnPage(t, tab, secret)
	wantSecretNotOnPage(t, tab, wrongSecret)
	tab.Screenshot(t, "test-wrong-secret")

	// Restore the secret; then a save with the secret left empty keeps it.
	tab.SetValue(t, "#f-secret", secret)
	tab.ClickAndWait(t, tid("wecom-save"))
	testConnection(t, tab, "ok")
	tab.SetValue(t, "#f-description", "Sign in with the Acme corp account")
	wantValue(t, tab, "#f-secret", "")
	tab.ClickAndWait(t, tid("wecom-save"))
	testConnection(t, tab, "ok")
	wantSecretNotOnPage(t, tab, secret)
	tab.Screenshot(t, "restored")

	// The same edit page on a phone: the copy fields and the result block fit the screen.
	phone := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), Language: "en", Viewport: browsertest.Phone})
	signInWithPassword(t, phone, "root", "correct-horse-battery")
	phone.Navigate(t, editPath)
	phone.WaitVisible(t, tid("paste-into-wecom"))
	wantNoSidewaysScroll(t, phone)
	wantInsideScreen(t, phone, ".copy-btn")
	phone.Screenshot(t, "edit-phone")
}

// TestBrowserWeComSignin follows members of the simulated corp signing in with WeCom, in the order
// that matters: alice's first QR sign-in from a desktop browser cannot find her account (WeCom gives
// no mobile there), her sign-in inside the WeCom client binds her by mobile, a new member is signed
// up automatically, and from then on alice's QR sign-in works.
func TestBrowserWeComSignin(t *testing.T) {
	t.Parallel()
	w := newWeComWorld(t, "sqlite", true)
	app := w.app
	alice := app.CreateUser("alice", "", false, "13800000001")
	b := browsertest.New(t)

	ok := t.Run("desktop QR first sign-in", func(t *testing.T) {
		for _, lang := range []string{"en", "zh-CN,zh"} {
			tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: desktopBrowserUA, Language: lang, Viewport: browsertest.Desktop})
			tab.Navigate(t, "/signin")
			tab.WaitVisible(t, tid("wecom-button-corp"))
			if lang == "en" {
				tab.Screenshot(t, "signin")
			}
			tab.ClickAndWait(t, tid("wecom-button-corp"))
			wantSimPage(t, tab, w, "login")
			if lang == "en" {
				tab.Screenshot(t, "wecom-qr-page")
			}
			status := tab.ClickAndWait(t, "button[name=member][value=alice]")
			wantOutcome(t, tab, "first_signin_in_client")
			if status != http.StatusForbidden {
				t.Errorf("first-sign-in page: status %d, want 403", status)
			}
			if n := tab.Count(t, "ol.steps li"); n < 2 {
				t.Errorf("the first-sign-in page lists %d steps", n)
			}
			if lang == "en" {
				wantText(t, tab, "h1", "First sign-in must happen inside the WeCom app")
			} else {
				if l := browsertest.Eval[string](t, tab, "document.documentElement.lang"); l != "zh-CN" {
					t.Errorf("<html lang=%q>, want zh-CN", l)
				}
				if h := tab.Text(t, "h1"); !regexp.MustCompile(`\p{Han}`).MatchString(h) {
					t.Errorf("the Chinese first-sign-in page's heading is %q", h)
				}
			}
			tab.Screenshot(t, "first-signin-"+lang[:2])
		}
		if n := w.counts(t).sessions; n != 0 {
			t.Errorf("%d sessions after QR sign-ins without a binding", n)
		}
	})
	ok = ok && t.Run("in the WeCom client alice is bound by mobile", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Language: "en", Viewport: browsertest.Phone})
		tab.Navigate(t, "/signin")
		tab.Screenshot(t, "signin-in-client")
		tab.ClickAndWait(t, tid("wecom-button-corp"))
		wantSimPage(t, tab, w, "authorize")
		tab.Click(t, "input[name=member][value=alice]")
		tab.Screenshot(t, "consent-sheet")
		tab.ClickAndWait(t, "button[name=action][value=allow]")
		wantSignedIn(t, tab, "/m", "Alice")
		wantNoSidewaysScroll(t, tab)
		if n := tab.Count(t, tid("binding-row")); n != 1 {
			t.Errorf("alice's account page lists %d WeCom bindings, want 1", n)
		}
		if _, err := app.Store.BindingBySubject(context.Background(), w.a.ID, "alice"); err != nil {
			t.Errorf("no binding for alice: %v", err)
		}
		tab.Screenshot(t, "signed-in")
	})
	ok = ok && t.Run("a new member is signed up in the WeCom client", func(t *testing.T) {
		before := w.counts(t).users
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Language: "en", Viewport: browsertest.Phone})
		tab.Navigate(t, "/signin")
		tab.ClickAndWait(t, tid("wecom-button-corp"))
		wantSimPage(t, tab, w, "authorize")
		tab.Click(t, "input[name=member][value=erin]")
		tab.ClickAndWait(t, "button[name=action][value=allow]")
		wantSignedIn(t, tab, "/m", "Erin Zhao")
		wantText(t, tab, "dl.kv", "+8613800000005")
		wantNoSidewaysScroll(t, tab)
		if n := w.counts(t).users; n != before+1 {
			t.Errorf("%d users after erin's sign-up, want %d", n, before+1)
		}
		u, err := app.Store.UserByMobile(context.Background(), "+8613800000005")
		if err != nil {
			t.Fatalf("erin was not signed up: %v", err)
		}
		if u.Username != "erin" || u.IsAdmin {
			t.Errorf("erin signed up as %q (admin %v)", u.Username, u.IsAdmin)
		}
		tab.Screenshot(t, "signed-up")
	})
	_ = ok && t.Run("then alice's QR sign-in works", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: desktopBrowserUA, Language: "en", Viewport: browsertest.Desktop})
		tab.Navigate(t, "/signin")
		tab.ClickAndWait(t, tid("wecom-button-corp"))
		wantSimPage(t, tab, w, "login")
		tab.ClickAndWait(t, "button[name=member][value=alice]")
		wantSignedIn(t, tab, "/account", "Alice")
		sessions, err := app.Store.UserSessions(context.Background(), alice.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(sessions) != 2 {
			t.Errorf("alice has %d sessions, want 2 (phone and desktop)", len(sessions))
		}
		// The monospace IP address sits on the same line as the rest of its row.
		wantRowBaselines(t, tab, tid("sessions")+" tbody tr")
		tab.Screenshot(t, "signed-in")
	})
}

// TestBrowserWeComAutoLogin: with auto login on, opening Gatehouse from the WeCom workbench signs the
// member in without the sign-in page: on the desktop client at /admin (an admin matched by mobile, who
// confirms with her password once), on a phone at /m. WeCom shows its consent sheet
// (snsapi_privateinfo), where the member clicks Allow.
func TestBrowserWeComAutoLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite", worldSpec{AutoLogin: true})
	app := w.app
	app.CreateUser("alice", "alice-password-1", true, "13800000001")
	b := browsertest.New(t)

	desk := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentDesktop, Language: "en", Viewport: browsertest.Desktop})
	desk.Navigate(t, "/admin")
	wantSimPage(t, desk, w, "authorize")
	desk.Click(t, "input[name=member][value=alice]")
	desk.Screenshot(t, "desktop-consent")
	desk.ClickAndWait(t, "button[name=action][value=allow]")
	// A mobile number alone never binds an admin: the password is asked once.
	if n := desk.Count(t, "[data-outcome=confirm_password]"); n != 1 {
		t.Fatalf("the desktop client landed on %s without the password confirmation", desk.Path(t))
	}
	desk.Screenshot(t, "desktop-confirm-password")
	desk.SetValue(t, "input[name=password]", "alice-password-1")
	desk.Submit(t, "[data-testid=confirm-password-form]")
	if got := desk.Path(t); got != "/admin" {
		t.Fatalf("the desktop client landed on %s, want /admin", got)
	}
	wantText(t, desk, tid("dashboard"), "Dashboard")
	wantText(t, desk, tid("current-user"), "Alice")
	desk.Screenshot(t, "desktop-dashboard")

	phone := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Language: "en", Viewport: browsertest.Phone})
	phone.Navigate(t, "/m")
	wantSimPage(t, phone, w, "authorize")
	phone.Click(t, "input[name=member][value=alice]")
	phone.ClickAndWait(t, "button[name=action][value=allow]")
	wantSignedIn(t, phone, "/m", "Alice")
	wantNoSidewaysScroll(t, phone)
	phone.Screenshot(t, "phone-account")

	// The admin pages on the phone: the sidebar's four links all fit the screen.
	phone.Navigate(t, "/admin/users")
	for _, key := range []string{"dashboard", "users", "authenticators", "audit"} {
		wantInsideScreen(t, phone, tid("nav-"+key))
	}
	wantNoSidewaysScroll(t, phone)
	phone.Screenshot(t, "phone-admin-users")
}

// TestBrowserWeComRefused: a member who chooses Refuse on WeCom's consent sheet lands on the
// cancelled page, which offers to try again (back to WeCom) or to sign in another way.
func TestBrowserWeComRefused(t *testing.T) {
	t.Parallel()
	w := newWeComWorld(t, "sqlite", true)
	app := w.app
	app.CreateUser("alice", "", false, "13800000001")
	b := browsertest.New(t)
	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Language: "en", Viewport: browsertest.Phone})

	tab.Navigate(t, "/signin")
	tab.ClickAndWait(t, tid("wecom-button-corp"))
	wantSimPage(t, tab, w, "authorize")
	tab.Click(t, "input[name=member][value=alice]")
	status := tab.ClickAndWait(t, "button[name=action][value=refuse]")
	wantOutcome(t, tab, "cancelled")
	if status != http.StatusForbidden {
		t.Errorf("cancelled page: status %d, want 403", status)
	}
	wantText(t, tab, "h1", "Sign-in was cancelled in WeCom")
	actions := browsertest.Eval[[]string](t, tab, `[...document.querySelectorAll(".outcome-actions a")].map(a => a.textContent.trim())`)
	if len(actions) != 2 || actions[0] != "Try again" || actions[1] != "Sign in another way" {
		t.Fatalf("the cancelled page offers %q, want [Try again, Sign in another way]", actions)
	}
	wantNoSidewaysScroll(t, tab)
	if n := w.counts(t).sessions; n != 0 {
		t.Errorf("%d sessions after a refused sign-in", n)
	}
	tab.Screenshot(t, "cancelled")

	// "Try again" goes back to WeCom's consent sheet; this time alice allows.
	tab.ClickAndWait(t, ".outcome-actions a:nth-child(1)")
	wantSimPage(t, tab, w, "authorize")
	tab.Navigate(t, "/signin") // as the back button would not: a fresh page, to test the other link
	tab.ClickAndWait(t, tid("wecom-button-corp"))
	tab.Click(t, "input[name=member][value=alice]")
	tab.ClickAndWait(t, "button[name=action][value=refuse]")
	wantOutcome(t, tab, "cancelled")
	tab.ClickAndWait(t, ".outcome-actions a:nth-child(2)")
	if got := tab.Path(t); !strings.HasPrefix(got, "/signin") {
		t.Errorf("Sign in another way led to %s, want /signin", got)
	}
	tab.WaitVisible(t, tid("password-form"))
	tab.Screenshot(t, "signin-another-way")
}

func signInWithPassword(t *testing.T, tab *browsertest.Tab, username, password string) {
	t.Helper()
	tab.Navigate(t, "/signin")
	tab.SetValue(t, "#f-username", username)
	tab.SetValue(t, "#f-password", password)
	if status := tab.Submit(t, tid("password-form")); status != http.StatusOK {
		t.Fatalf("sign in as %s: status %d", username, status)
	}
	tab.WaitVisible(t, tid("current-user"))
}

// testConnection clicks Test connection and checks the result block's data-result.
func testConnection(t *testing.T, tab *browsertest.Tab, want string) {
	t.Helper()
	tab.ClickAndWait(t, tid("test-connection"))
	tab.WaitVisible(t, tid("connection-test"))
	if got := browsertest.Eval[string](t, tab, `document.querySelector("[data-testid=connection-test]").dataset.result`); got != want {
		t.Fatalf("connection test: data-result=%q, want %q (%s)", got, want, tab.Text(t, tid("connection-test")))
	}
}

func wantSecretNotOnPage(t *testing.T, tab *browsertest.Tab, s string) {
	t.Helper()
	if html := browsertest.Eval[string](t, tab, "document.documentElement.outerHTML"); strings.Contains(html, s) {
		t.Errorf("%s: the page's HTML holds the secret %.6s…", tab.Path(t), s)
	}
	// Typed-in values are not in outerHTML: check every field's current value too.
	js := `[...document.querySelectorAll("input, textarea")].some(e => e.value.includes(` + jsQuote(s) + `))`
	if browsertest.Eval[bool](t, tab, js) {
		t.Errorf("%s: a field holds the secret %.6s…", tab.Path(t), s)
	}
}

func jsQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// wantSimPage checks that the tab is on the WeCom simulator's page of that kind ("login": the QR
// page; "authorize": the in-client consent sheet).
func wantSimPage(t *testing.T, tab *browsertest.Tab, w *wecomWorld, kind string) {
	t.Helper()
	if u := tab.URL(t); !strings.HasPrefix(u, w.app.Config.WeComLoginBase) {
		t.Fatalf("at %s, want the WeCom simulator (%s)", u, w.app.Config.WeComLoginBase)
	}
	tab.WaitVisible(t, "[data-sim-page="+kind+"]")
}

func wantOutcome(t *testing.T, tab *browsertest.Tab, want string) {
	t.Helper()
	tab.WaitVisible(t, tid("outcome"))
	if got := browsertest.Eval[string](t, tab, `document.querySelector("[data-testid=outcome]").dataset.outcome`); got != want {
		t.Fatalf("%s: data-outcome=%q, want %q (%s)", tab.Path(t), got, want, tab.Text(t, "h1"))
	}
}

// wantSignedIn checks that the tab landed signed in on the account page at path, as who.
func wantSignedIn(t *testing.T, tab *browsertest.Tab, path, who string) {
	t.Helper()
	if got := tab.Path(t); got != path {
		if tab.Count(t, "[data-outcome]") > 0 {
			t.Fatalf("landed on %s, outcome %q, want signed in at %s", got, tab.Text(t, "h1"), path)
		}
		t.Fatalf("landed on %s, want signed in at %s", got, path)
	}
	tab.WaitVisible(t, tid("account"))
	wantText(t, tab, tid("current-user"), who)
}

// wantInsideScreen checks that every element matching sel lies within the screen's width.
func wantInsideScreen(t *testing.T, tab *browsertest.Tab, sel string) {
	t.Helper()
	tab.WaitVisible(t, sel)
	js := `(() => { const w = window.innerWidth; return [...document.querySelectorAll(` + jsQuote(sel) + `)]
		.map(e => e.getBoundingClientRect()).filter(r => r.left < 0 || r.right > w).length })()`
	if n := browsertest.Eval[int](t, tab, js); n > 0 {
		t.Errorf("%s: %d of %s reach past the %d px screen", tab.Path(t), n, sel, browsertest.Eval[int](t, tab, "window.innerWidth"))
	}
}

// wantRowBaselines checks that the text of every cell of the first row matching sel sits on one
// baseline (a cell in a monospace or smaller font must not ride higher than its neighbours).
func wantRowBaselines(t *testing.T, tab *browsertest.Tab, sel string) {
	t.Helper()
	tab.WaitVisible(t, sel)
	js := `(() => { const out = [];
		for (const td of document.querySelector(` + jsQuote(sel) + `).cells) {
			if (!td.textContent.trim()) continue;
			const m = document.createElement("span");
			m.style.cssText = "display:inline-block;width:0;height:0;vertical-align:baseline";
			td.insertBefore(m, td.firstChild);
			out.push(m.getBoundingClientRect().top);
			m.remove();
		}
		return out })()`
	tops := browsertest.Eval[[]float64](t, tab, js)
	for i, y := range tops {
		if d := y - tops[0]; d > 0.5 || d < -0.5 {
			t.Errorf("%s: cell %d's text baseline is %.1f px off the first cell's (%v)", sel, i+1, d, tops)
		}
	}
}
