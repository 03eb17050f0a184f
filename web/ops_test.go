package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gatehouse/auth"
	"gatehouse/web/webtest"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		admin := fxSignedIn(t, app, "root")
		pages := []struct {
			name, path, referrer string
			c                    *webtest.Client
		}{
			{"sign-in page", "/signin", "same-origin", app.Client()},
			{"dashboard", "/admin", "same-origin", admin},
			{"account", "/account", "same-origin", admin},
			{"not found page", "/nowhere", "same-origin", app.Client()},
			{"redirect", "/", "same-origin", app.Client()},
			{"WeCom start of an unknown authenticator", "/auth/wecom/nope/start", "no-referrer", app.Client()},
			{"WeCom callback", "/auth/wecom/nope/callback?code=abc&state=def", "no-referrer", app.Client()},
		}
		for _, p := range pages {
			t.Run(p.name, func(t *testing.T) {
				r := p.c.Get(p.path)
				h := r.Header
				csp := map[string]string{}
				for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
					if f := strings.Fields(d); len(f) > 0 {
						csp[f[0]] = strings.Join(f[1:], " ")
					}
				}
				if csp["default-src"] != "'self'" {
					t.Errorf("default-src %q, want 'self'", csp["default-src"])
				}
				script, ok := csp["script-src"]
				if !ok {
					script = csp["default-src"]
				}
				if strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*") {
					t.Errorf("script-src %q allows inline or foreign scripts", script)
				}
				if csp["frame-ancestors"] != "'none'" {
					t.Errorf("frame-ancestors %q, want 'none'", csp["frame-ancestors"])
				}
				if h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("X-Content-Type-Options %q", h.Get("X-Content-Type-Options"))
				}
				if h.Get("Referrer-Policy") != p.referrer {
					t.Errorf("Referrer-Policy %q, want %q", h.Get("Referrer-Policy"), p.referrer)
				}
				if r.Find("script:not([src])").Length() > 0 {
					t.Error("the page has an inline script, which the CSP would block")
				}
			})
		}
	})
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		lang := func(r *webtest.Response) string { v, _ := r.Find("html").Attr("lang"); return v }
		tests := []struct {
			name, accept, choose, want, text string
		}{
			{"English by default", "", "", "en", "Sign in"},
			{"Accept-Language zh gives Chinese", "zh-CN,zh;q=0.9,en;q=0.5", "", "zh-CN", "登录"},
			{"Accept-Language zh-TW still gets Simplified Chinese", "zh-TW", "", "zh-CN", "登录"},
			{"an unknown language falls back to English", "fr-FR", "", "en", "Sign in"},
			{"the choice overrides Accept-Language (en)", "zh-CN", "en", "en", "Sign in"},
			{"the choice overrides Accept-Language (zh)", "en-US", "zh", "zh-CN", "登录"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := app.Client()
				c.Language = tt.accept
				if tt.choose != "" {
					r := c.Post("/lang", fxForm("lang", tt.choose, "redirect", "/signin"))
					if r.StatusCode != http.StatusSeeOther || r.Location() != "/signin" || c.Cookie("gatehouse_lang") != tt.choose {
						t.Fatalf("POST /lang: %d %q cookie %q", r.StatusCode, r.Location(), c.Cookie("gatehouse_lang"))
					}
				}
				r := c.Get("/signin")
				if lang(r) != tt.want || !strings.Contains(r.Find("h1").Text()+r.Find("title").Text(), tt.text) {
					t.Fatalf("lang %q, heading %q; want %q with %q", lang(r), r.Find("h1").Text(), tt.want, tt.text)
				}
			})
		}
		t.Run("a foreign redirect after choosing a language falls back", func(t *testing.T) {
			r := app.Client().Post("/lang", fxForm("lang", "zh", "redirect", "//evil.com"))
			if r.StatusCode != http.StatusSeeOther || r.Location() != "/" {
				t.Fatalf("POST /lang with //evil.com: %d %q", r.StatusCode, r.Location())
			}
		})
	})
}

func TestHealthReadinessMetrics(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		fxUser(t, app, "root", true)
		c := app.Client()
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := c.Get(p); r.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", p, r.StatusCode)
			}
		}
		c.SignIn("root", fxPassword)
		app.Client().Post("/signin", fxForm("username", "root", "password", "wrong-password"))
		scraper := app.Client()
		scraper.Header("Authorization", "Bearer "+webtest.MetricsToken)
		m := scraper.Get("/metrics")
		for _, want := range []string{
			"gatehouse_http_requests_total{",
			`gatehouse_signins_total{method="password",outcome="ok"} 1`,
			`gatehouse_signins_total{method="password",outcome="invalid_credentials"} 1`,
			`route="/signin"`,
		} {
			if !strings.Contains(m.Body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(m.Body, "/nowhere-") {
			t.Error("raw paths leak into metric labels")
		}
		app.Store.Close()
		probe := app.Client() // probes carry no session cookie
		if r := probe.Get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET /readyz with the database closed: %d, want 503", r.StatusCode)
		}
		if r := probe.Get("/healthz"); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz with the database closed: %d, want 200 (liveness)", r.StatusCode)
		}
	}, webtest.WithMetrics())
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		const adminPassword = "Admin-First-Password-42"
		const newPassword = "Changed-Password-Secret-77"
		const wecomSecret = "WeCom-App-Secret-Value-99"
		var bootLog bytes.Buffer
		if err := auth.EnsureFirstAdmin(context.Background(), app.Store, "admin", adminPassword, slog.New(slog.NewTextHandler(&bootLog, nil))); err != nil {
			t.Fatal(err)
		}
		w := app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: "ww1", AgentID: 1000002, Secret: wecomSecret})
		admin := app.Client()
		admin.SignIn("admin", adminPassword)
		app.Client().Post("/signin", fxForm("username", "admin", "password", adminPassword+"-typo"))
		var pages []string
		add := func(r *webtest.Response) { pages = append(pages, r.Body) }
		r := admin.Post("/admin/users", fxForm("username", "bob", "password", newPassword))
		add(r)
		add(admin.Get(r.Location()))
		add(admin.Post("/admin/users", fxForm("username", "bad name", "password", newPassword)))
		for _, p := range []string{"/admin", "/admin/users", "/admin/audit", "/admin/authenticators", "/admin/authenticators/" + strconv.FormatInt(w.ID, 10), "/account"} {
			add(admin.Get(p))
		}
		add(admin.Post("/admin/authenticators/"+strconv.FormatInt(w.ID, 10), fxForm("name", "corp", "title", "Corp", "corp_id", "ww1", "agent_id", "1000002", "origin", "bad origin", "secret", wecomSecret)))
		logs := app.Logs() + bootLog.String()
		for _, secret := range []string{adminPassword, newPassword, wecomSecret, string(app.Config.SecretKey)} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs show the secret %q", secret)
			}
			for i, p := range pages {
				if strings.Contains(p, secret) {
					t.Errorf("page %d shows the secret %q", i, secret)
				}
			}
		}
		if !strings.Contains(bootLog.String(), "admin") {
			t.Error("the first-admin log line does not name the user")
		}
	})
}
