package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
	"gatehouse/wecom/wecomtest"
)

// Demo mode runs the WeCom simulator inside Gatehouse under /_wecom, points the WeCom hosts at it and
// seeds a demo corp, a matching Gatehouse user and a "WeCom (demo)" authenticator, so every flow can
// be tried without a WeCom corp.

const (
	demoPrefix            = "/_wecom"
	demoAuthenticatorName = "wecom-demo"
	demoMarker            = "system.demo" // audit action that marks a database as the demo's
)

// demoOrigin is where a demo visitor reaches Gatehouse: GATEHOUSE_BASE_URL, else localhost on the port.
func demoOrigin(cfg Config) string {
	if cfg.BaseURL != nil {
		return cfg.BaseURL.Scheme + "://" + cfg.BaseURL.Host
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	return "http://localhost:" + port
}

// newDemoSim builds the simulator with the demo corp, trusting the demo origin's host.
func newDemoSim(cfg Config) (*wecomtest.Sim, error) {
	seed := wecomtest.DemoSeed()
	u, err := url.Parse(demoOrigin(cfg))
	if err != nil {
		return nil, err
	}
	for i := range seed.Corps {
		seed.Corps[i].TrustedDomains = append(seed.Corps[i].TrustedDomains, u.Host)
	}
	sim := wecomtest.New()
	return sim, sim.Apply(seed)
}

// mountDemo serves the simulator under /_wecom.
func mountDemo(r *gin.Engine, sim http.Handler) {
	h := gin.WrapH(http.StripPrefix(demoPrefix, sim))
	r.Any(demoPrefix+"/*path", h)
}

// ErrNotDemoDatabase stops demo mode on a database that holds someone's real data.
var ErrNotDemoDatabase = &ConfigError{Var: "GATEHOUSE_DEMO", Reason: "the database already holds data that the demo did not create; demo mode needs an empty database (another GATEHOUSE_DATA_DIR or DATABASE_URL)"}

// ClaimDemoDatabase marks an empty database as the demo's, before anything else writes to it. A
// database that has users but no demo marker holds real data: the demo refuses to touch it.
func ClaimDemoDatabase(ctx context.Context, s *models.Store) error {
	users, err := s.CountUsers(ctx)
	if err != nil {
		return err
	}
	marked, err := s.CountEvents(ctx, demoMarker, time.Time{})
	if err != nil {
		return err
	}
	if users > 0 && marked == 0 {
		return ErrNotDemoDatabase
	}
	if marked > 0 {
		return nil
	}
	return s.Audit(ctx, models.Event{Action: demoMarker, Target: "demo"})
}

// SeedDemo adds the demo's WeCom authenticator and the Gatehouse user whose mobile matches a demo
// member, inside the migration lock, after ClaimDemoDatabase.
func SeedDemo(ctx context.Context, s *models.Store, cfg Config) error {
	sealer, err := models.NewSealer(cfg.SecretKey, cfg.PreviousKeys...)
	if err != nil {
		return err
	}
	sealed, err := sealer.Seal(wecomtest.DemoSecret, models.AuthenticatorSecret(demoAuthenticatorName))
	if err != nil {
		return err
	}
	a, err := s.AuthenticatorByName(ctx, demoAuthenticatorName)
	switch {
	case errors.Is(err, models.ErrNotFound):
		a = models.Authenticator{Name: demoAuthenticatorName, Type: models.TypeWeCom, Title: "WeCom (demo)", Enabled: true, Sort: 10,
			Description: "Simulated WeCom corp: no real WeCom is contacted.", AutoLogin: true,
			Options: models.AuthenticatorOptions{CorpID: wecomtest.DemoCorpID, AgentID: wecomtest.DemoAgentID, AutoSignup: true, Handoff: true,
				RedirectPath: "/", MobileRedirectPath: "/m"}}
	case err != nil:
		return err
	}
	// The origin follows the demo's address, which may change between runs.
	a.SecretSealed = sealed
	a.Options.Origin = demoOrigin(cfg)
	if a.ID == 0 {
		err = s.CreateAuthenticator(ctx, &a)
	} else {
		err = s.SaveAuthenticator(ctx, &a)
	}
	if err != nil && !errors.Is(err, models.ErrAutoLoginTaken) {
		return fmt.Errorf("seed demo authenticator: %w", err)
	}
	if _, err := s.UserByUsername(ctx, "zhangsan"); errors.Is(err, models.ErrNotFound) {
		mobile := "+8613800000001"
		u := models.User{Username: "zhangsan", Nickname: "张三 (Zhang San)", Email: "zhangsan@demo.example", Mobile: &mobile}
		if err := s.CreateUser(ctx, &u); err != nil {
			return fmt.Errorf("seed demo user: %w", err)
		}
	}
	return nil
}

// logDemoGuide prints how to try every flow.
func logDemoGuide(log *slog.Logger, cfg Config) {
	o := demoOrigin(cfg)
	lines := []string{
		"DEMO MODE: WeCom is simulated in-process under " + o + demoPrefix + "; no real WeCom is contacted.",
		"  Admin:            open " + o + "/signin and sign in as " + cfg.AdminUsername + " (the password was logged when the database was created; reset it with 'gatehouse user set-password " + cfg.AdminUsername + " --password …').",
		"  QR sign-in:       on " + o + "/signin click 'Sign in with WeCom (demo)' and pick a member on the simulated QR page.",
		"  In-app sign-in:   click 'Open as the WeCom client' in the yellow banner, then sign in with WeCom: the consent sheet appears.",
		"  Auto login:       in WeCom-client mode open " + o + "/admin or " + o + "/m while signed out: you land signed in.",
		"  Members:          zhangsan 张三 (mobile matches the Gatehouse user zhangsan: bound on first in-app sign-in),",
		"                    lisi 李四 (new: auto-signup creates the user), wangwu 王五 (outside the app's visible range),",
		"                    zhaoliu 赵六 (disabled in WeCom), sunqi 孙七 (refuses consent).",
		"  First sign-in:    a QR sign-in of zhangsan before any in-app sign-in explains why the first one must happen in WeCom.",
	}
	for _, l := range lines {
		log.Info(l)
	}
}

// isDemoPath tells whether a request is for the in-process simulator, whose pages send their own CSP.
func isDemoPath(p string) bool { return strings.HasPrefix(p, demoPrefix+"/") }
