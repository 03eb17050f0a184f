package wecomtest

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestAPI(t *testing.T) {
	type request struct{ ip, method, target, body string }
	get := func(path string, kv ...string) request { return request{"", "GET", target(path, kv...), ""} }
	post := func(path, body string, kv ...string) request { return request{"", "POST", target(path, kv...), body} }
	has := func(keys ...string) func(*testing.T, map[string]any) {
		return func(t *testing.T, r map[string]any) {
			for _, k := range keys {
				if _, ok := r[k]; !ok {
					t.Errorf("reply %v lacks %q", r, k)
				}
			}
		}
	}
	lacks := func(keys ...string) func(*testing.T, map[string]any) {
		return func(t *testing.T, r map[string]any) {
			for _, k := range keys {
				if _, ok := r[k]; ok {
					t.Errorf("reply %v has %q", r, k)
				}
			}
		}
	}
	equals := func(key string, want any) func(*testing.T, map[string]any) {
		return func(t *testing.T, r map[string]any) {
			if r[key] != want {
				t.Errorf("%s = %#v, want %#v", key, r[key], want)
			}
		}
	}

	tests := []struct {
		name   string
		req    func(e *simEnv) request
		want   int
		checks []func(*testing.T, map[string]any)
	}{
		// gettoken
		{"gettoken answers a token for 7200 s", func(e *simEnv) request {
			return get("/cgi-bin/gettoken", "corpid", DemoCorpID, "corpsecret", DemoSecret)
		}, 0, []func(*testing.T, map[string]any){has("access_token"), equals("expires_in", 7200.0), equals("errmsg", "ok")}},
		{"gettoken without corpid", func(e *simEnv) request { return get("/cgi-bin/gettoken", "corpsecret", DemoSecret) }, 41002, nil},
		{"gettoken with a wrong corpid", func(e *simEnv) request {
			return get("/cgi-bin/gettoken", "corpid", "wwnope", "corpsecret", DemoSecret)
		}, 40013, nil},
		{"gettoken without corpsecret", func(e *simEnv) request { return get("/cgi-bin/gettoken", "corpid", DemoCorpID) }, 41004, nil},
		{"gettoken with a wrong secret", func(e *simEnv) request {
			return get("/cgi-bin/gettoken", "corpid", DemoCorpID, "corpsecret", "nope")
		}, 40001, nil},
		{"gettoken from an untrusted IP", func(e *simEnv) request {
			return request{otherIP, "GET", target("/cgi-bin/gettoken", "corpid", lockedCorp, "corpsecret", lockedSecret), ""}
		}, 60020, nil},
		{"gettoken from a trusted IP", func(e *simEnv) request {
			return get("/cgi-bin/gettoken", "corpid", lockedCorp, "corpsecret", lockedSecret)
		}, 0, nil},

		// access_token checks on data calls
		{"data call without access_token", func(e *simEnv) request { return get("/cgi-bin/user/get", "userid", "lisi") }, 41001, nil},
		{"data call with an unknown token", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", "forged", "userid", "lisi")
		}, 40014, nil},
		{"data call after ExpireToken", func(e *simEnv) request {
			tok := e.demoToken()
			e.sim.ExpireToken(DemoCorpID, DemoAgentID)
			return get("/cgi-bin/user/get", "access_token", tok, "userid", "lisi")
		}, 42001, nil},
		{"data call after RevokeToken", func(e *simEnv) request {
			tok := e.demoToken()
			e.sim.RevokeToken(DemoCorpID, DemoAgentID)
			return get("/cgi-bin/user/get", "access_token", tok, "userid", "lisi")
		}, 40014, nil},
		{"data call after 7200 s", func(e *simEnv) request {
			tok := e.demoToken()
			e.clock.Advance(TokenLifetime)
			return get("/cgi-bin/user/get", "access_token", tok, "userid", "lisi")
		}, 42001, nil},
		{"data call from an untrusted IP", func(e *simEnv) request {
			tok := e.token(lockedCorp, lockedSecret)
			return request{otherIP, "GET", target("/cgi-bin/user/get", "access_token", tok, "userid", "u1"), ""}
		}, 60020, nil},

		// auth/getuserinfo
		{"code missing", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken())
		}, 41008, nil},
		{"code unknown", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", "nope")
		}, 40029, nil},
		{"code used twice", func(e *simEnv) request {
			tok, code := e.demoToken(), e.code(DemoAgentID, "lisi", ScopeWebLogin, trustedCB)
			e.api("", "GET", target("/cgi-bin/auth/getuserinfo", "access_token", tok, "code", code), "")
			return get("/cgi-bin/auth/getuserinfo", "access_token", tok, "code", code)
		}, 40029, nil},
		{"code used just inside 5 minutes", func(e *simEnv) request {
			tok, code := e.demoToken(), e.code(DemoAgentID, "lisi", ScopeWebLogin, trustedCB)
			e.clock.Advance(CodeLifetime - time.Second)
			return get("/cgi-bin/auth/getuserinfo", "access_token", tok, "code", code)
		}, 0, []func(*testing.T, map[string]any){equals("userid", "lisi")}},
		{"code used after 5 minutes", func(e *simEnv) request {
			tok, code := e.demoToken(), e.code(DemoAgentID, "lisi", ScopeWebLogin, trustedCB)
			e.clock.Advance(CodeLifetime)
			return get("/cgi-bin/auth/getuserinfo", "access_token", tok, "code", code)
		}, 40029, nil},
		{"code whose redirect host is not trusted", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "lisi", ScopePrivateInfo, untrustedCB))
		}, 50001, nil},
		{"code redirecting to a trusted host on another port", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "lisi", ScopePrivateInfo, "http://localhost:9999/cb"))
		}, 50001, nil},
		{"code exchanged with another app's token", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.token(DemoCorpID, legacySecret), "code", e.code(DemoAgentID, "lisi", ScopePrivateInfo, trustedCB))
		}, 301002, nil},
		{"code exchanged with another corp's token", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.token(lockedCorp, lockedSecret), "code", e.code(DemoAgentID, "lisi", ScopePrivateInfo, trustedCB))
		}, 40029, nil},
		{"privateinfo code of a visible member carries a user_ticket", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "zhangsan", ScopePrivateInfo, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("userid", "zhangsan"), has("user_ticket"), equals("expires_in", 1800.0), lacks("openid")}},
		{"base code gives userid without ticket", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "zhangsan", ScopeBase, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("userid", "zhangsan"), lacks("user_ticket")}},
		{"privateinfo without agentid acts as base", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(0, "zhangsan", ScopePrivateInfo, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("userid", "zhangsan"), lacks("user_ticket")}},
		{"member outside the visible range gets no ticket", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "wangwu", ScopePrivateInfo, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("userid", "wangwu"), lacks("user_ticket")}},
		{"QR login code gives userid alone", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "zhangsan", ScopeWebLogin, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("userid", "zhangsan"), lacks("user_ticket", "openid")}},
		{"non-member gets openid", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, ExternalUser, ScopePrivateInfo, trustedCB))
		}, 0, []func(*testing.T, map[string]any){has("openid", "external_userid"), lacks("userid", "user_ticket")}},
		{"legacy user/getuserinfo answers PascalCase", func(e *simEnv) request {
			return get("/cgi-bin/user/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "zhangsan", ScopePrivateInfo, trustedCB))
		}, 0, []func(*testing.T, map[string]any){equals("UserId", "zhangsan"), has("DeviceId", "user_ticket", "expires_in"), lacks("userid")}},
		{"legacy user/getuserinfo for a non-member", func(e *simEnv) request {
			return get("/cgi-bin/user/getuserinfo", "access_token", e.demoToken(), "code", e.code(DemoAgentID, "stranger", ScopeBase, trustedCB))
		}, 0, []func(*testing.T, map[string]any){has("OpenId"), lacks("UserId")}},

		// auth/getuserdetail
		{"getuserdetail with consent", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", fmt.Sprintf(`{"user_ticket":%q}`, e.ticket("zhangsan")), "access_token", e.demoToken())
		}, 0, []func(*testing.T, map[string]any){equals("userid", "zhangsan"), equals("gender", "1"), equals("mobile", "13800000001"), has("avatar", "qr_code", "email", "biz_mail", "address"), lacks("name")}},
		{"getuserdetail when the app may not read mobile", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", fmt.Sprintf(`{"user_ticket":%q}`, e.ticket("hider")), "access_token", e.demoToken())
		}, 0, []func(*testing.T, map[string]any){equals("userid", "hider"), equals("gender", "0"), lacks("mobile", "email", "biz_mail", "address")}},
		{"legacy user/getuserdetail", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserdetail", fmt.Sprintf(`{"user_ticket":%q}`, e.ticket("zhangsan")), "access_token", e.demoToken())
		}, 0, []func(*testing.T, map[string]any){equals("mobile", "13800000001")}},
		{"user_ticket unknown", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", `{"user_ticket":"nope"}`, "access_token", e.demoToken())
		}, 84015, nil},
		{"user_ticket missing", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", `{}`, "access_token", e.demoToken())
		}, 84015, nil},
		{"user_ticket after 1800 s", func(e *simEnv) request {
			ticket := e.ticket("zhangsan")
			e.clock.Advance(TicketLifetime)
			return post("/cgi-bin/auth/getuserdetail", fmt.Sprintf(`{"user_ticket":%q}`, ticket), "access_token", e.demoToken())
		}, 84014, nil},
		{"user_ticket of another app", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", fmt.Sprintf(`{"user_ticket":%q}`, e.ticket("zhangsan")), "access_token", e.token(DemoCorpID, legacySecret))
		}, 301002, nil},
		{"getuserdetail with bad JSON", func(e *simEnv) request {
			return post("/cgi-bin/auth/getuserdetail", `{"user_ticket":`, "access_token", e.demoToken())
		}, 47001, nil},
		{"getuserdetail with GET", func(e *simEnv) request {
			return get("/cgi-bin/auth/getuserdetail", "access_token", e.demoToken())
		}, 47001, nil},

		// user/get
		{"user/get omits sensitive fields for a new app", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "zhangsan")
		}, 0, []func(*testing.T, map[string]any){equals("name", "张三"), equals("status", 1.0), has("department", "position", "alias"), lacks("mobile", "gender", "email", "biz_mail", "avatar", "qr_code", "address")}},
		{"user/get keeps them for a legacy app", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.token(DemoCorpID, legacySecret), "userid", "wangwu")
		}, 0, []func(*testing.T, map[string]any){equals("mobile", "13800000003"), has("gender", "email", "biz_mail", "avatar", "qr_code", "address")}},
		{"user/get of a disabled member shows status 2", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "zhaoliu")
		}, 0, []func(*testing.T, map[string]any){equals("status", 2.0)}},
		{"user/get without userid", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken())
		}, 41009, nil},
		{"user/get of an unknown userid", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "ghost")
		}, 60111, nil},
		{"user/get of a malformed userid", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "no spaces allowed")
		}, 40003, nil},
		{"user/get of a member who left shows status 5", func(e *simEnv) request {
			if err := e.sim.SetMemberStatus(DemoCorpID, "lisi", 5); err != nil {
				panic(err)
			}
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "lisi")
		}, 0, []func(*testing.T, map[string]any){equals("status", 5.0)}},
		{"user/get of a member outside the visible range", func(e *simEnv) request {
			return get("/cgi-bin/user/get", "access_token", e.demoToken(), "userid", "wangwu")
		}, 60011, nil},

		// user/getuserid
		{"getuserid by mobile", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserid", `{"mobile":"13800000002"}`, "access_token", e.demoToken())
		}, 0, []func(*testing.T, map[string]any){equals("userid", "lisi")}},
		{"getuserid with country code", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserid", `{"mobile":"+86 138 0000 0002"}`, "access_token", e.demoToken())
		}, 0, []func(*testing.T, map[string]any){equals("userid", "lisi")}},
		{"getuserid of an unknown mobile", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserid", `{"mobile":"13999999999"}`, "access_token", e.demoToken())
		}, 46004, nil},
		{"getuserid of a member outside the visible range", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserid", `{"mobile":"13800000003"}`, "access_token", e.demoToken())
		}, 46004, nil},
		{"getuserid with bad JSON", func(e *simEnv) request {
			return post("/cgi-bin/user/getuserid", `mobile=1`, "access_token", e.demoToken())
		}, 47001, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSimEnv(t)
			req := tt.req(e)
			reply, header := e.api(req.ip, req.method, req.target, req.body)
			if got := errcode(reply); got != tt.want {
				t.Fatalf("errcode = %d (%v), want %d", got, reply, tt.want)
			}
			if tt.want != 0 && header.Get("Error-Code") != strconv.Itoa(tt.want) {
				t.Errorf("Error-Code header = %q, want %d", header.Get("Error-Code"), tt.want)
			}
			for _, check := range tt.checks {
				check(t, reply)
			}
		})
	}
}

// TestEveryErrcodeHasAKnob checks FailNext for every errcode of shared/wecom-api.md's table and
// the live errmsg format.
func TestEveryErrcodeHasAKnob(t *testing.T) {
	codes := []int{-1, 40001, 40013, 40014, 42001, 40029, 40056, 41004, 45009, 48002, 50001, 60011, 60020, 60111, 84014, 84015, 301002}
	endpoints := []struct{ name, method, path, body string }{
		{"gettoken", "GET", "/cgi-bin/gettoken", ""},
		{"getuserinfo", "GET", "/cgi-bin/auth/getuserinfo", ""},
		{"getuserdetail", "POST", "/cgi-bin/auth/getuserdetail", "{}"},
		{"user/get", "GET", "/cgi-bin/user/get", ""},
		{"getuserid", "POST", "/cgi-bin/user/getuserid", "{}"},
	}
	for _, ep := range endpoints {
		for _, code := range codes {
			t.Run(fmt.Sprintf("%s %d", ep.name, code), func(t *testing.T) {
				e := newSimEnv(t)
				e.sim.FailNext(ep.name, 1, code)
				reply, header := e.api(otherIP, ep.method, ep.path+"?corpid=x", ep.body)
				if got := errcode(reply); got != code {
					t.Fatalf("errcode = %d, want %d", got, code)
				}
				format := regexp.MustCompile(`^[^,]+, hint: \[\d+\], from ip: ` + regexp.QuoteMeta(otherIP) +
					`, more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=` + regexp.QuoteMeta(strconv.Itoa(code)) + `$`)
				if msg, _ := reply["errmsg"].(string); !format.MatchString(msg) {
					t.Errorf("errmsg %q is not in the live format", msg)
				}
				if header.Get("Error-Msg") != reply["errmsg"] {
					t.Errorf("Error-Msg header %q differs from errmsg", header.Get("Error-Msg"))
				}
				// The knob fires once.
				if reply, _ := e.api(otherIP, ep.method, ep.path+"?corpid=x", ep.body); errcode(reply) == code && code != 40013 {
					t.Errorf("second call still answers %d", code)
				}
			})
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	e := newSimEnv(t)
	first := e.demoToken()
	e.clock.Advance(time.Hour)
	reply, _ := e.api("", "GET", target("/cgi-bin/gettoken", "corpid", DemoCorpID, "corpsecret", DemoSecret), "")
	if reply["access_token"] != first {
		t.Errorf("token changed before expiry")
	}
	if reply["expires_in"] != 3600.0 {
		t.Errorf("expires_in = %v, want the remaining 3600", reply["expires_in"])
	}
	if other := e.token(DemoCorpID, legacySecret); other == first {
		t.Errorf("two apps share a token")
	}
	e.clock.Advance(time.Hour)
	second := e.demoToken()
	if second == first {
		t.Errorf("token not renewed after 7200 s")
	}
	e.sim.ExpireToken(DemoCorpID, DemoAgentID)
	third := e.demoToken()
	if third == second {
		t.Errorf("token not renewed after ExpireToken")
	}
	if reply, _ := e.api("", "GET", target("/cgi-bin/user/get", "access_token", third, "userid", "lisi"), ""); errcode(reply) != 0 {
		t.Errorf("new token refused: %v", reply)
	}
}

func TestCallCounters(t *testing.T) {
	e := newSimEnv(t)
	tok := e.demoToken()
	e.api("", "GET", target("/cgi-bin/user/get", "access_token", tok, "userid", "lisi"), "")
	e.api("", "GET", target("/cgi-bin/user/get", "access_token", tok, "userid", "ghost"), "")
	e.api("", "GET", target("/cgi-bin/user/getuserinfo", "access_token", tok, "code", "x"), "")
	for endpoint, want := range map[string]int{"gettoken": 1, "user/get": 2, "getuserinfo": 1, "getuserdetail": 0} {
		if got := e.sim.Calls(endpoint); got != want {
			t.Errorf("Calls(%q) = %d, want %d", endpoint, got, want)
		}
	}
	e.sim.ResetCalls()
	if got := e.sim.Calls("user/get"); got != 0 {
		t.Errorf("after ResetCalls, Calls = %d", got)
	}
}

func TestBadInputNeverPanics(t *testing.T) {
	e := newSimEnv(t)
	tok := e.demoToken()
	paths := []string{"/cgi-bin/gettoken", "/cgi-bin/auth/getuserinfo", "/cgi-bin/user/getuserinfo", "/cgi-bin/auth/getuserdetail",
		"/cgi-bin/user/getuserdetail", "/cgi-bin/user/get", "/cgi-bin/user/getuserid"}
	queries := []string{"", "?access_token=" + tok, "?access_token=" + tok + "&code=%zz&userid=%00", "?corpid=" + DemoCorpID + "&corpsecret=%ff%fe"}
	bodies := []string{"", "null", "[]", `{"user_ticket":12}`, `{"mobile":null}`, "\xff\xfe", `{"user_ticket":"` + string(make([]byte, 100000)) + `"}`}
	for _, p := range paths {
		for _, q := range queries {
			for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
				for _, b := range bodies {
					w := e.call("", m, p+q, b)
					if w.Code != 200 {
						t.Errorf("%s %s%s: HTTP %d", m, p, q, w.Code)
					}
				}
			}
		}
	}
}

func TestLatencyRespectsCancellation(t *testing.T) {
	e := newSimEnv(t)
	e.sim.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if reply, _ := e.api("", "GET", target("/cgi-bin/gettoken", "corpid", DemoCorpID, "corpsecret", DemoSecret), ""); errcode(reply) != 0 {
		t.Fatal(reply)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("reply came before the latency")
	}
	e.sim.SetLatency(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := contextWithTimeout(20 * time.Millisecond)
		defer cancel()
		r := newRequest(ctx, "/cgi-bin/gettoken")
		e.sim.ServeHTTP(discard{}, r)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("a cancelled request waited out the latency")
	}
}

// TestLongRunSweep ages the simulator past its sweeps: forgotten tokens must not break the knobs.
func TestLongRunSweep(t *testing.T) {
	e := newSimEnv(t)
	first := e.demoToken()
	e.clock.Advance(4 * time.Hour)
	e.code(DemoAgentID, "lisi", ScopeWebLogin, trustedCB) // issuing a code sweeps
	e.sim.ExpireToken(DemoCorpID, DemoAgentID)
	e.sim.RevokeToken(DemoCorpID, DemoAgentID)
	if second := e.demoToken(); second == first {
		t.Error("an ancient token was handed out again")
	}
	if reply, _ := e.api("", "GET", target("/cgi-bin/user/get", "access_token", first, "userid", "lisi"), ""); errcode(reply) != 40014 {
		t.Errorf("forgotten token answers %v, want 40014", reply)
	}
}
