package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// stateFor mints a valid state cookie for a QR sign-in at authenticator name, as /start would, with
// the app's keys (every instance shares them).
func stateFor(t *testing.T, app *webtest.App, name string) (string, *http.Cookie) {
	t.Helper()
	key := app.Config.SecretKey
	states := auth.NewStates(models.DeriveKey(key, "state hash"), models.DeriveKey(key, "state block"), false, func() time.Time { return time.Now().UTC() })
	rec := httptest.NewRecorder()
	p, err := states.Begin(rec, httptest.NewRequest(http.MethodGet, "/auth/wecom/"+name+"/start", nil), auth.Pending{Name: name, Flow: auth.FlowQR})
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("state cookies: %v", cookies)
	}
	return p.State, cookies[0]
}

// coldSignIns runs n concurrent QR sign-ins of the bound member alice, spread over the instances,
// each with its own code and state, and returns the failures.
func coldSignIns(t *testing.T, sim *wecomtest.Sim, origin string, apps []*webtest.App, n int) []string {
	t.Helper()
	type req struct {
		base, code, state string
		cookie            *http.Cookie
	}
	reqs := make([]req, n)
	for i := range reqs {
		app := apps[i%len(apps)]
		code, err := sim.IssueCode(corpID, agentID, "alice", wecomtest.ScopeWebLogin, origin+"/auth/wecom/corp/callback")
		if err != nil {
			t.Fatal(err)
		}
		state, cookie := stateFor(t, app, "corp")
		reqs[i] = req{app.URL(), code, state, cookie}
	}
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: n},
	}
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
		startGun = make(chan struct{})
	)
	for _, r := range reqs {
		wg.Go(func() {
			<-startGun
			hr, _ := http.NewRequest(http.MethodGet, r.base+"/auth/wecom/corp/callback?code="+url.QueryEscape(r.code)+"&state="+r.state, nil)
			hr.AddCookie(r.cookie)
			resp, err := client.Do(hr)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusSeeOther {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					failures = append(failures, fmt.Sprint(resp.StatusCode))
				}
			}
		})
	}
	close(startGun)
	wg.Wait()
	return failures
}

// TestWeComTokenOncePerInstance: 200 concurrent cold sign-ins on one instance fetch one token.
func TestWeComTokenOncePerInstance(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect, worldSpec{})
			w.bind(t, w.a, w.app.CreateUser("alice", "", false, ""), "alice")
			w.sim.SetLatency(50 * time.Millisecond) // every cold caller is waiting while the token is fetched
			if f := coldSignIns(t, w.sim, w.app.URL(), []*webtest.App{w.app}, 200); len(f) > 0 {
				t.Fatalf("%d of 200 sign-ins failed: %v", len(f), f[:min(5, len(f))])
			}
			if n := w.sim.Calls("gettoken"); n != 1 {
				t.Errorf("gettoken called %d times, want 1", n)
			}
			if n := w.sim.Calls("getuserinfo"); n != 200 {
				t.Errorf("getuserinfo called %d times, want 200", n)
			}
			if n := countRows(t, w.app).sessions; n != 200 {
				t.Errorf("sessions = %d, want 200", n)
			}
		})
	}
}

// TestWeComTokenOncePerFleet: three instances on one PostgreSQL database, 200 concurrent cold
// sign-ins spread over them: one gettoken (DESIGN.md §8).
func TestWeComTokenOncePerFleet(t *testing.T) {
	if !strings.Contains(strings.Join(modelstest.Dialects(), ","), "postgres") {
		t.Skip("needs TEST_DATABASE_URL")
	}
	sim, simSrv := wecomtest.NewServer(t)
	dsn := modelstest.SchemaURL(t)
	var apps []*webtest.App
	for i := range 3 {
		store, err := models.Open(models.Options{DatabaseURL: dsn, MaxOpenConns: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if i == 0 {
			if err := store.Migrate(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
		}
		apps = append(apps, webtest.NewOnStore(t, store, webtest.WithWeCom(simSrv.URL)))
	}
	origin := apps[0].URL()
	if err := sim.AddCorp(wecomtest.Corp{ID: corpID, Name: "Acme", TrustedDomains: []string{strings.TrimPrefix(origin, "http://")},
		Apps: []wecomtest.App{{AgentID: agentID, Secret: secret, Name: "Gatehouse"}}}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddMember(corpID, wecomtest.Member{UserID: "alice", Name: "Alice", Mobile: "13800000001"}); err != nil {
		t.Fatal(err)
	}
	w := &wecomWorld{app: apps[0], sim: sim}
	w.a = apps[0].CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: corpID, AgentID: agentID, Secret: secret})
	w.bind(t, w.a, apps[0].CreateUser("alice", "", false, ""), "alice")
	sim.SetLatency(50 * time.Millisecond)
	if f := coldSignIns(t, sim, origin, apps, 200); len(f) > 0 {
		t.Fatalf("%d of 200 sign-ins failed: %v", len(f), f[:min(5, len(f))])
	}
	if n := sim.Calls("gettoken"); n != 1 {
		t.Errorf("gettoken called %d times across 3 instances, want 1", n)
	}
	if n := countRows(t, apps[0]).sessions; n != 200 {
		t.Errorf("sessions = %d, want 200", n)
	}
}
