package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
	"gatehouse/wecom/wecomtest"
)

// handoffWorld is a wecomWorld with a settable clock, for the hand-off QR code (DESIGN.md §7).
func handoffWorld(t *testing.T, dialect string) *wecomWorld {
	t.Helper()
	clk := &clock{}
	w := newWorld(t, dialect, worldSpec{AutoSignup: true, AppOptions: []webtest.Option{webtest.WithClock(clk.Now), webtest.WithMetrics()}})
	w.clock = clk
	return w
}

// offer signs member in by QR code from a new desktop browser and returns it with the hand-off link.
func (w *wecomWorld) offer(t *testing.T, member string) (*webtest.Client, string) {
	t.Helper()
	desktop := w.app.Client()
	r := w.signIn(t, desktop, member, "/auth/wecom/corp/start?redirect=/account")
	if r.StatusCode != http.StatusForbidden || r.Outcome() != "first_signin_in_client" {
		t.Fatalf("QR first sign-in: %d %q", r.StatusCode, r.Outcome())
	}
	link, _ := r.Find("[data-testid=handoff-link]").Attr("href")
	if r.Find("svg[data-testid=handoff-qr]").Length() != 1 || link == "" ||
		r.Find("form[data-testid=handoff-continue][method=post]").Length() != 1 || r.Find("form[data-testid=handoff-cancel][method=post]").Length() != 1 {
		t.Fatalf("first-sign-in page lacks the hand-off hooks: %.600s", r.Body)
	}
	return desktop, link
}

// scan opens link in the WeCom client on a phone signed in to WeCom as member.
func (w *wecomWorld) scan(t *testing.T, member, link string) (*webtest.Client, *webtest.Response) {
	t.Helper()
	phone := w.app.Client()
	phone.UserAgent = wecom.UserAgentIOS
	phone.Header(wecomtest.MemberHeader, member)
	r, _ := phone.Follow(link)
	return phone, r
}

func handoffContinue(c *webtest.Client) *webtest.Response {
	return c.Post("/auth/wecom/corp/handoff-continue", url.Values{})
}

func TestSecurityHandoffSignsTheDesktopInOnce(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := handoffWorld(t, dialect)
			ctx := context.Background()
			desktop, link := w.offer(t, "bob")
			if !strings.HasPrefix(link, w.app.URL()+"/auth/wecom/corp/handoff/") {
				t.Fatalf("link %q is not on the authenticator's origin naming it", link)
			}
			if r := handoffContinue(desktop); r.StatusCode != http.StatusOK || r.Outcome() != "handoff_pending" ||
				r.Find("[data-testid=handoff-link]").AttrOr("href", "") != link {
				t.Fatalf("continue before the phone: %d %q", r.StatusCode, r.Outcome())
			}
			// Outside WeCom the link only explains; it does not use the code up.
			browser := w.app.Client()
			if r := browser.Get(link); r.StatusCode != http.StatusOK || r.Outcome() != "" || strings.Contains(r.Body, "handoff_done") {
				t.Fatalf("link outside WeCom: %d %q", r.StatusCode, r.Outcome())
			}
			phone, r := w.scan(t, "bob", link)
			if r.StatusCode != http.StatusOK || r.Outcome() != "handoff_done" {
				t.Fatalf("phone: %d %q %.300s", r.StatusCode, r.Outcome(), r.Body)
			}
			if phone.Cookie("gatehouse_session") != "" {
				t.Fatal("the phone got a session")
			}
			if _, err := w.app.Store.BindingBySubject(ctx, w.a.ID, "bob"); err != nil {
				t.Fatalf("binding: %v", err)
			}
			if _, d := lastAudit(t, w.app, models.ActionHandoffDone); d["authenticator"] != "corp" {
				t.Fatalf("handoff.done audit: %v", d)
			}
			st := desktop.Get("/auth/wecom/corp/handoff-status")
			if !strings.Contains(st.Body, `"done":true`) {
				t.Fatalf("status after the phone: %s", st.Body)
			}
			r = handoffContinue(desktop)
			if r.StatusCode != http.StatusSeeOther || r.Location() != "/account" || desktop.Cookie("gatehouse_session") == "" {
				t.Fatalf("continue once done: %d %q", r.StatusCode, r.Location())
			}
			if r := desktop.Get("/account"); r.StatusCode != http.StatusOK {
				t.Fatalf("desktop account: %d", r.StatusCode)
			}
			// Used: neither the phone link nor a second continue works again.
			if _, r := w.scan(t, "bob", link); r.StatusCode != http.StatusGone || r.Outcome() != "handoff_invalid" {
				t.Fatalf("link used twice: %d %q", r.StatusCode, r.Outcome())
			}
			if r := handoffContinue(desktop); r.StatusCode != http.StatusGone || r.Outcome() != "handoff_invalid" {
				t.Fatalf("continue twice: %d %q", r.StatusCode, r.Outcome())
			}
			// A used code is refused before anything is sent to WeCom, and outside WeCom too.
			if r := browser.Get(link); r.StatusCode != http.StatusGone || r.Outcome() != "handoff_invalid" {
				t.Fatalf("used link outside WeCom: %d %q", r.StatusCode, r.Outcome())
			}
			req, _ := http.NewRequest(http.MethodGet, w.app.URL()+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+webtest.MetricsToken)
			m := w.app.Client().Do(req).Body
			for _, want := range []string{`method="wecom_handoff",outcome="started"} 1`, `method="wecom_handoff",outcome="handoff_done"} 1`, `method="wecom_handoff",outcome="ok"} 1`} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			// The binding was made: a later QR sign-in works directly.
			if r := w.signIn(t, w.app.Client(), "bob", "/auth/wecom/corp/start"); r.StatusCode != http.StatusOK || r.Outcome() != "" {
				t.Fatalf("later QR sign-in: %d %q", r.StatusCode, r.Outcome())
			}
		})
	}
}

func TestSecurityHandoffRefusals(t *testing.T) {
	type check struct {
		phoneStatus    int
		phoneOutcome   string
		desktopOutcome string // the desktop's continue afterwards
		bound          bool
	}
	invalid := check{http.StatusGone, "handoff_invalid", "handoff_invalid", false}
	for _, tc := range []struct {
		name string
		// act runs between the offer and the scan; it returns the member and link the phone uses.
		act  func(t *testing.T, w *wecomWorld, desktop *webtest.Client, link string) (string, string)
		want check
	}{
		{"another member scans the code", func(t *testing.T, w *wecomWorld, d *webtest.Client, link string) (string, string) {
			return "erin", link
		}, check{http.StatusForbidden, "handoff_mismatch", "handoff_invalid", false}},
		{"the code expired", func(t *testing.T, w *wecomWorld, d *webtest.Client, link string) (string, string) {
			w.clock.Advance(5*time.Minute + time.Second)
			return "bob", link
		}, invalid},
		{"the desktop cancelled", func(t *testing.T, w *wecomWorld, d *webtest.Client, link string) (string, string) {
			if r := d.Post("/auth/wecom/corp/handoff-cancel", url.Values{}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("cancel: %d", r.StatusCode)
			}
			return "bob", link
		}, invalid},
		{"through another authenticator", func(t *testing.T, w *wecomWorld, d *webtest.Client, link string) (string, string) {
			w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "other", CorpID: corpID, AgentID: agentID, Secret: secret, AutoSignup: true})
			return "bob", strings.Replace(link, "/auth/wecom/corp/", "/auth/wecom/other/", 1)
		}, check{http.StatusGone, "handoff_invalid", "handoff_pending", false}},
		{"a forged token", func(t *testing.T, w *wecomWorld, d *webtest.Client, link string) (string, string) {
			return "bob", link[:len(link)-4] + "0000"
		}, check{http.StatusGone, "handoff_invalid", "handoff_pending", false}},
	} {
		for _, dialect := range modelstest.Dialects() {
			t.Run(tc.name+"/"+dialect, func(t *testing.T) {
				w := handoffWorld(t, dialect)
				desktop, link := w.offer(t, "bob")
				member, phoneLink := tc.act(t, w, desktop, link)
				phone, r := w.scan(t, member, phoneLink)
				if r.StatusCode != tc.want.phoneStatus || r.Outcome() != tc.want.phoneOutcome {
					t.Fatalf("phone: %d %q, want %d %q", r.StatusCode, r.Outcome(), tc.want.phoneStatus, tc.want.phoneOutcome)
				}
				if phone.Cookie("gatehouse_session") != "" {
					t.Fatal("the phone got a session")
				}
				r = handoffContinue(desktop)
				if r.Outcome() != tc.want.desktopOutcome || desktop.Cookie("gatehouse_session") != "" {
					t.Fatalf("desktop continue: %d %q, want %q and no session", r.StatusCode, r.Outcome(), tc.want.desktopOutcome)
				}
				for _, m := range []string{"bob", "erin"} {
					if _, err := w.app.Store.BindingBySubject(context.Background(), w.a.ID, m); err == nil {
						t.Fatalf("%s was bound", m)
					}
				}
			})
		}
	}
}

func TestSecurityHandoffOnlyTheDesktopThatStartedIt(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := handoffWorld(t, dialect)
			desktop, link := w.offer(t, "bob")
			if _, r := w.scan(t, "bob", link); r.Outcome() != "handoff_done" {
				t.Fatalf("phone: %q", r.Outcome())
			}
			// Another browser (a copy of the link or page, the phone itself) cannot take the session.
			other := w.app.Client()
			if r := handoffContinue(other); r.StatusCode != http.StatusGone || r.Outcome() != "handoff_invalid" || other.Cookie("gatehouse_session") != "" {
				t.Fatalf("another browser: %d %q", r.StatusCode, r.Outcome())
			}
			if st := other.Get("/auth/wecom/corp/handoff-status"); !strings.Contains(st.Body, `"ended":true`) {
				t.Fatalf("status in another browser: %s", st.Body)
			}
			if r := handoffContinue(desktop); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("the desktop: %d %q", r.StatusCode, r.Outcome())
			}
		})
	}
}

func TestHandoffMismatchAudited(t *testing.T) {
	w := handoffWorld(t, modelstest.Dialects()[0])
	_, link := w.offer(t, "bob")
	if _, d := lastAudit(t, w.app, models.ActionHandoffStart); d["authenticator"] != "corp" {
		t.Fatalf("handoff.start audit: %v", d)
	}
	w.scan(t, "erin", link)
	ev, d := lastAudit(t, w.app, models.ActionHandoffMismatch)
	if ev.Target != "bob" || d["wecom_userid"] != "erin" {
		t.Fatalf("handoff.mismatch audit: %s %v", ev.Target, d)
	}
}

// A privileged match (an account with a password) is not bound from the phone of a hand-off: the
// hand-off ends with that outcome and the desktop gets nothing.
func TestSecurityHandoffConfirmPasswordBindsNothing(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := handoffWorld(t, dialect)
			w.app.CreateUser("bobby", "a-password-1", false, "13800000002")
			desktop, link := w.offer(t, "bob")
			if _, r := w.scan(t, "bob", link); r.Outcome() != "confirm_password" {
				t.Fatalf("phone: %d %q", r.StatusCode, r.Outcome())
			}
			if r := handoffContinue(desktop); r.StatusCode != http.StatusGone || r.Outcome() != "handoff_invalid" {
				t.Fatalf("desktop: %d %q", r.StatusCode, r.Outcome())
			}
			if _, err := w.app.Store.BindingBySubject(context.Background(), w.a.ID, "bob"); err == nil {
				t.Fatal("bob was bound")
			}
		})
	}
}

func TestHandoffOffHasNoHooks(t *testing.T) {
	w := handoffWorld(t, modelstest.Dialects()[0])
	if err := w.app.Store.UpdateAuthenticatorStatus(context.Background(), w.a.ID, func(o *models.AuthenticatorOptions) { o.Handoff = false }); err != nil {
		t.Fatal(err)
	}
	r := w.signIn(t, w.app.Client(), "bob", "/auth/wecom/corp/start")
	if r.Outcome() != "first_signin_in_client" || r.Find("[data-testid^=handoff]").Length() != 0 {
		t.Fatalf("hand-off off: %q, %d hooks", r.Outcome(), r.Find("[data-testid^=handoff]").Length())
	}
}

// The setting is on the WeCom authenticator's form, checked for a new one; unchecked, it is saved off.
func TestHandoffSettingOnTheForm(t *testing.T) {
	w, c := adminWorld(t, modelstest.Dialects()[0], worldSpec{})
	if r := c.Get("/admin/authenticators/new?type=wecom"); r.Find("input[name=handoff][checked]").Length() != 1 {
		t.Fatalf("new form: hand-off not checked by default")
	}
	for _, tc := range []struct {
		name, handoff string
		want          bool
	}{{"acme", "", false}, {"acme2", "on", true}} {
		form := wecomFormValues(w, map[string]string{"name": tc.name, "handoff": tc.handoff, "secret": secret})
		if r := c.Post("/admin/authenticators", form); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %s: %d %s", tc.name, r.StatusCode, r.Find("[data-testid^=error-]").Text())
		}
		a, err := w.app.Store.AuthenticatorByName(context.Background(), tc.name)
		if err != nil || a.Options.Handoff != tc.want {
			t.Fatalf("%s: handoff %v, want %v (%v)", tc.name, a.Options.Handoff, tc.want, err)
		}
	}
}

// Demo mode: the banner says how to try the hand-off, and it works with the simulated member lisi.
func TestDemoHandoff(t *testing.T) {
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		desktop := app.Client()
		desktop.Header(wecomtest.MemberHeader, "lisi")
		r, _ := desktop.Follow("/auth/wecom/wecom-demo/start?redirect=/account")
		link, _ := r.Find("[data-testid=handoff-link]").Attr("href")
		if r.Outcome() != "first_signin_in_client" || link == "" || r.Find("[data-testid=demo-handoff-hint]").Length() != 1 {
			t.Fatalf("demo QR sign-in of lisi: %d %q, link %q", r.StatusCode, r.Outcome(), link)
		}
		phone := app.Client()
		phone.UserAgent = wecom.UserAgentAndroid
		phone.Header(wecomtest.MemberHeader, "lisi")
		if r, _ := phone.Follow(link); r.Outcome() != "handoff_done" {
			t.Fatalf("demo phone: %d %q", r.StatusCode, r.Outcome())
		}
		if r := desktop.Post("/auth/wecom/wecom-demo/handoff-continue", url.Values{}); r.StatusCode != http.StatusSeeOther || r.Location() != "/account" {
			t.Fatalf("demo desktop: %d %q", r.StatusCode, r.Location())
		}
	}, webtest.WithDemo())
}
