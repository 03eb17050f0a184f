package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/apps"
	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/wecom/wecomtest"
)

// Demo mode runs the WeCom simulator inside Gatehouse under /_wecom, points the WeCom hosts at it and
// seeds a demo corp, a matching Gatehouse user and a "WeCom (demo)" authenticator, so every flow can
// be tried without a WeCom corp.

const (
	demoPrefix            = "/_wecom"
	demoAuthenticatorName = "wecom-demo"
	demoMarker            = "system.demo"      // audit action that marks a database as the demo's
	demoUserMarker        = "system.demo_user" // audit action naming (by id) a user demo mode created
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
var ErrNotDemoDatabase = &ConfigError{Var: "GATEHOUSE_DEMO", Reason: "the database holds users or authenticators that demo mode did not create; demo mode needs an empty database or one only the demo used (another GATEHOUSE_DATA_DIR or DATABASE_URL)"}

// demoSeededUser is the Gatehouse user SeedDemo creates, matched by mobile to the demo member zhangsan.
const demoSeededUser = "zhangsan"

// ClaimDemoDatabase marks an empty database as the demo's, before anything else writes to it, and
// refuses a database holding anything demo mode did not create. The marker alone is not enough: a
// database first started in demo mode may have been used for real since, and the demo's simulator
// (anyone may pick any member) and auto-signup must never reach real users. What demo mode creates:
// the built-in password authenticator, its own WeCom authenticator (still pointing at the demo corp),
// the users it recorded (the first admin, the seeded user: see StartDemo) and users signed up through
// the demo authenticator.
func ClaimDemoDatabase(ctx context.Context, s *models.Store) error {
	marked, err := s.CountEvents(ctx, demoMarker, time.Time{})
	if err != nil {
		return err
	}
	if err := refuseRealData(ctx, s, marked > 0); err != nil {
		return err
	}
	if marked > 0 {
		return nil
	}
	return s.Audit(ctx, models.Event{Action: demoMarker, Target: "demo"})
}

// refuseRealData returns ErrNotDemoDatabase if s holds an authenticator or a user demo mode did not
// create; on a database not yet marked as the demo's, any user is real.
func refuseRealData(ctx context.Context, s *models.Store, marked bool) error {
	auths, err := s.Authenticators(ctx)
	if err != nil {
		return err
	}
	var demoID int64
	for _, a := range auths {
		switch {
		case isDemoAuthenticator(a):
			demoID = a.ID
		case a.Type == models.TypePassword && a.Name == models.PasswordAuthenticatorName:
		default:
			return ErrNotDemoDatabase
		}
	}
	var users int64
	if marked {
		users, err = s.CountUsersOutside(ctx, demoUserMarker, demoID)
	} else {
		users, err = s.CountUsers(ctx)
	}
	if err != nil {
		return err
	}
	if users > 0 {
		return ErrNotDemoDatabase
	}
	return nil
}

// isDemoAuthenticator tells whether a is the demo's own WeCom authenticator, still pointing at the
// simulated corp (an admin may have re-pointed it at a real corp: then it is real data).
func isDemoAuthenticator(a models.Authenticator) bool {
	return a.Name == demoAuthenticatorName && a.IsWeCom() && a.Options.CorpID == wecomtest.DemoCorpID && a.Options.APIBase == ""
}

// RetireDemo runs when the server starts without demo mode: the demo's authenticator signs in through
// the in-process simulator, which is not running, and its auto login would send every visitor there.
// It is disabled with its auto login, once, with one log line and an audit event.
func RetireDemo(ctx context.Context, s *models.Store, log *slog.Logger) error {
	if err := retireDemoTool(ctx, s); err != nil {
		return err
	}
	a, err := s.AuthenticatorByName(ctx, demoAuthenticatorName)
	if errors.Is(err, models.ErrNotFound) || err == nil && !isDemoAuthenticator(a) {
		return nil
	}
	if err != nil {
		return err
	}
	changed, passwordEnabled, err := s.RetireAuthenticator(ctx, a.ID)
	if err != nil || !changed {
		return err
	}
	log.Warn("demo mode is off: disabled the demo WeCom authenticator and its auto login (it signs in through the simulator, which runs only in demo mode)",
		"authenticator", a.Name, "password_authenticator_enabled", passwordEnabled)
	return s.Audit(ctx, models.Event{Action: models.ActionAuthUpdate, Target: a.Name,
		Detail: map[string]any{"reason": "demo_mode_off", "enabled": false, "auto_login": false, "password_authenticator_enabled": passwordEnabled}})
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
	// The origin follows the demo's address, which may change between runs; a start without demo mode
	// disabled it (RetireDemo), so it is enabled again, with auto login.
	a.SecretSealed = sealed
	if a.EventTokenSealed, err = sealer.Seal(wecomtest.DemoEventToken, models.EventToken(demoAuthenticatorName)); err != nil {
		return err
	}
	if a.EventAESKeySealed, err = sealer.Seal(wecomtest.DemoEventAESKey, models.EventAESKey(demoAuthenticatorName)); err != nil {
		return err
	}
	a.Options.Origin = demoOrigin(cfg)
	a.Enabled, a.AutoLogin = true, true
	if a.ID == 0 {
		err = s.CreateAuthenticator(ctx, &a)
	} else {
		err = s.SaveAuthenticator(ctx, &a)
	}
	if err != nil && !errors.Is(err, models.ErrAutoLoginTaken) {
		return fmt.Errorf("seed demo authenticator: %w", err)
	}
	if err := seedDemoDirectory(ctx, s, a); err != nil {
		return err
	}
	if err := seedDemoProxyApp(ctx, s); err != nil {
		return err
	}
	if err := seedDemoTool(ctx, s, cfg); err != nil {
		return err
	}
	if _, err := s.UserByUsername(ctx, demoSeededUser); errors.Is(err, models.ErrNotFound) {
		mobile := "+8613800000001"
		u := models.User{Username: demoSeededUser, Nickname: "张三 (Zhang San)", Email: "zhangsan@demo.example", Mobile: &mobile}
		if err := s.CreateUser(ctx, &u); err != nil {
			return fmt.Errorf("seed demo user: %w", err)
		}
		return recordDemoUser(ctx, s, u)
	}
	return nil
}

// StartDemo prepares the database for demo mode, inside the migration lock: it claims the database
// (refusing real data), creates the first admin, seeds the demo, and records the admin as the demo's
// when the database was empty, so that a later demo start tells the demo's users from real ones.
func StartDemo(ctx context.Context, s *models.Store, cfg Config, log *slog.Logger) error {
	if err := ClaimDemoDatabase(ctx, s); err != nil {
		return err
	}
	users, err := s.CountUsers(ctx)
	if err != nil {
		return err
	}
	if err := auth.EnsureFirstAdmin(ctx, s, cfg.AdminUsername, cfg.AdminPassword, log); err != nil {
		return err
	}
	if users == 0 {
		admin, err := s.UserByUsername(ctx, cfg.AdminUsername)
		if err != nil {
			return fmt.Errorf("demo's first admin: %w", err)
		}
		if err := recordDemoUser(ctx, s, admin); err != nil {
			return err
		}
	}
	return SeedDemo(ctx, s, cfg)
}

// demoGroup is the demo's group: everyone in the demo corp's R&D department and the teams under it.
const demoGroup = "rd"

// seedDemoDirectory records the demo corp's departments and tags, so the groups page can name them
// before anyone signs in (each WeCom sign-in refreshes them), and creates the demo group once.
func seedDemoDirectory(ctx context.Context, s *models.Store, a models.Authenticator) error {
	if a.ID == 0 {
		return nil
	}
	corp := wecomtest.DemoSeed().Corps[0]
	var depts []models.DirectoryDepartment
	for _, d := range corp.Departments {
		depts = append(depts, models.DirectoryDepartment{DeptID: int64(d.ID), ParentID: int64(d.ParentID), Name: d.Name})
	}
	var tags []models.DirectoryTag
	for _, t := range corp.Tags {
		tags = append(tags, models.DirectoryTag{TagID: int64(t.ID), Name: t.Name})
	}
	if err := s.ReplaceDirectoryTree(ctx, a.ID, depts, tags, time.Now().UTC()); err != nil {
		return fmt.Errorf("seed demo departments and tags: %w", err)
	}
	groups, err := s.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name == demoGroup {
			return nil
		}
	}
	g := models.Group{Name: demoGroup, Title: "研发部 R&D", Rules: "dept:" + a.Name + ":" + strconv.Itoa(wecomtest.DemoDeptRD)}
	if err := s.CreateGroup(ctx, &g); err != nil && !errors.Is(err, models.ErrConflict) {
		return fmt.Errorf("seed demo group: %w", err)
	}
	return nil
}

func recordDemoUser(ctx context.Context, s *models.Store, u models.User) error {
	return s.Audit(ctx, models.Event{Action: demoUserMarker, Target: strconv.FormatInt(u.ID, 10), Detail: map[string]any{"username": u.Username}})
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
		"  Another app:      open " + o + "/_demo/tool, a demo 'internal tool' that signs in with Gatehouse (OpenID Connect):",
		"                    click 'Sign in with WeCom', then the WeCom button, pick zhangsan: the tool shows who you are.",
		"  Members:          zhangsan 张三 (mobile matches the Gatehouse user zhangsan: bound on first in-app sign-in),",
		"                    lisi 李四 (new: auto-signup creates the user), wangwu 王五 (outside the app's visible range),",
		"                    zhaoliu 赵六 (disabled in WeCom), sunqi 孙七 (refuses consent).",
		"  Directory:        zhangsan is in 研发部 / 后端组 with the tags 管理层 and 值班, lisi in 研发部 / 前端组: after a sign-in, their",
		"                    departments and tags show on /account and the admin user page; the group 'rd' takes everyone in 研发部.",
		"  First sign-in:    a QR sign-in of zhangsan before any in-app sign-in explains why the first one must happen in WeCom.",
		"  Leavers:          on " + o + demoPrefix + "/directory make a signed-in member leave: WeCom's event ends their session at once; 'Come back' lets them in again.",
		"  Forward-auth:     run 'go tool task proxy-demo' (Debian's caddy) and open http://localhost:8081: sign in, and the app shows who you are.",
		"  Hand-off QR:      QR sign-in as lisi (not linked yet): the page shows a hand-off QR code. Open its link ('The link in the code')",
		"                    in another tab, click 'Open as the WeCom client', pick lisi: the phone side says 'Done'; back in the first",
		"                    tab the page signs in by itself (or press 'I have scanned it'). Pick another member to see handoff_mismatch.",
	}
	for _, l := range lines {
		log.Info(l)
	}
}

// seedDemoProxyApp registers the forward-auth app of `go tool task proxy-demo` (docs/proxy.md): Caddy on
// localhost:8081 in front of a page that shows the identity headers. Ports do not separate cookies, so
// the session cookie of localhost:8080 reaches it without a cookie domain.
func seedDemoProxyApp(ctx context.Context, s *models.Store) error {
	list, err := s.AppsOfType(ctx, models.AppTypeProxy)
	if err != nil || len(list) > 0 {
		return err
	}
	a := models.App{Name: "demo-proxy", Title: "Demo app behind Caddy", Type: models.AppTypeProxy, Enabled: true,
		Access: models.AccessEveryone, Domains: []string{"localhost", "*.localhost"}, ClientID: apps.NewClientID()}
	if err := s.CreateApp(ctx, &a); err != nil {
		return fmt.Errorf("seed demo proxy app: %w", err)
	}
	return nil
}

// isDemoPath tells whether a request is for the in-process simulator, whose pages send their own CSP.
func isDemoPath(p string) bool { return strings.HasPrefix(p, demoPrefix+"/") }
