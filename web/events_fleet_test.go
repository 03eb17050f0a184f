package web_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom/wecomtest"
)

// TestSecurityEventsCutOffAcrossInstances: two Gatehouse instances on one PostgreSQL database; the
// simulator pushes an unsubscribe to instance A, and the member's session is refused on instance B
// within 2 s of the push (DESIGN.md §11's target). The figure is logged.
func TestSecurityEventsCutOffAcrossInstances(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("needs TEST_DATABASE_URL (two instances share one PostgreSQL database)")
	}
	timingTest(t)
	dsn := modelstest.SchemaURL(t)
	open := func() *models.Store {
		s, err := models.Open(models.Options{DatabaseURL: dsn, MaxOpenConns: 10})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	storeA, storeB := open(), open()
	must(t, storeA.Migrate(context.Background(), nil))
	sim, simSrv := wecomtest.NewServer(t)
	must(t, sim.Apply(wecomtest.DemoSeed()))
	appA := webtest.NewOnStore(t, storeA, webtest.WithWeCom(simSrv.URL))
	appB := webtest.NewOnStore(t, storeB, webtest.WithWeCom(simSrv.URL))

	a := appA.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "corp", CorpID: wecomtest.DemoCorpID, AgentID: wecomtest.DemoAgentID, Secret: wecomtest.DemoSecret})
	setEventSettings(t, appA, &a, wecomtest.DemoEventToken, wecomtest.DemoEventAESKey)
	u := fxUser(t, appA, "zhang", false)
	must(t, storeA.CreateBinding(context.Background(), &models.Binding{UserID: u.ID, AuthenticatorID: a.ID, Subject: "zhangsan", CorpID: wecomtest.DemoCorpID}))
	must(t, sim.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, wecomtest.EventConfig{
		URL: appA.URL() + "/auth/wecom/corp/events", Token: wecomtest.DemoEventToken, AESKey: wecomtest.DemoEventAESKey}))
	must(t, sim.CheckEventURL(context.Background(), wecomtest.DemoCorpID, wecomtest.DemoAgentID))

	onB := fxSignedIn(t, appB, "zhang")
	if r := onB.Get("/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in on B: /account = %d", r.StatusCode)
	}
	start := time.Now()
	must(t, sim.SetMemberStatus(wecomtest.DemoCorpID, "zhangsan", 5)) // leaves: WeCom pushes unsubscribe to A
	var refusedAfter time.Duration
	for {
		if r := onB.Get("/account"); r.StatusCode == http.StatusSeeOther {
			refusedAfter = time.Since(start)
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the session still works on B 5 s after the push; pushes: %+v", sim.Pushes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	sim.WaitPushes()
	p := sim.Pushes()
	if len(p) != 1 || !p[0].Delivered() || p[0].Event != "unsubscribe" {
		t.Fatalf("pushes = %+v", p)
	}
	t.Logf("push to A → session refused on B: %v (push answered after %v)", refusedAfter, p[0].Done.Sub(start))
	if refusedAfter > 2*time.Second {
		t.Errorf("cut-off on B took %v, target < 2 s", refusedAfter)
	}
}
