package web

import (
	"net/http"
	"net/http/httptest"

	"gatehouse/wecom/wecomtest"
)

// demoEventsPath is the demo authenticator's events URL: the simulator pushes its members' comings and
// goings there, so a visitor can make a member leave on the simulator's directory page and watch their
// session end.
const demoEventsPath = "/auth/wecom/" + demoAuthenticatorName + "/events"

// connectDemoEvents gives the demo app an event callback to this server. The pushes are served
// in-process by h: the demo's public origin (GATEHOUSE_BASE_URL) may not be reachable from inside.
func connectDemoEvents(sim *wecomtest.Sim, cfg Config, h http.Handler) error {
	sim.SetPushClient(&http.Client{Transport: handlerTransport{h}})
	return sim.SetEventConfig(wecomtest.DemoCorpID, wecomtest.DemoAgentID, wecomtest.EventConfig{
		URL: demoOrigin(cfg) + demoEventsPath, Token: wecomtest.DemoEventToken, AESKey: wecomtest.DemoEventAESKey})
}

// handlerTransport answers a client's requests with a handler, without a network.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.RemoteAddr = "127.0.0.1:0" // the simulator, as WeCom's servers are a remote address
	r.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
