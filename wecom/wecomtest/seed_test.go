package wecomtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDemoSeedStories(t *testing.T) {
	e := newSimEnv(t)
	tests := []struct {
		userID string
		scope  string
		want   error
	}{
		{"zhangsan", ScopePrivateInfo, nil},
		{"lisi", ScopePrivateInfo, nil},
		{"wangwu", ScopePrivateInfo, nil},
		{"zhaoliu", ScopePrivateInfo, ErrMemberInactive},
		{"zhaoliu", ScopeWebLogin, ErrMemberInactive},
		{"sunqi", ScopePrivateInfo, ErrConsentRefused},
		{"sunqi", ScopeWebLogin, nil},
		{ExternalUser, ScopePrivateInfo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.userID+" "+tt.scope, func(t *testing.T) {
			_, err := e.sim.IssueCode(DemoCorpID, DemoAgentID, tt.userID, tt.scope, trustedCB)
			if !errors.Is(err, tt.want) {
				t.Errorf("IssueCode error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetupErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(s *Sim) error
	}{
		{"duplicate corp", func(s *Sim) error { return s.AddCorp(Corp{ID: DemoCorpID}) }},
		{"corp without id", func(s *Sim) error { return s.AddCorp(Corp{}) }},
		{"app without secret", func(s *Sim) error { return s.AddCorp(Corp{ID: "x", Apps: []App{{AgentID: 1}}}) }},
		{"agent id twice", func(s *Sim) error {
			return s.AddCorp(Corp{ID: "x", Apps: []App{{AgentID: 1, Secret: "a"}, {AgentID: 1, Secret: "b"}}})
		}},
		{"member of an unknown corp", func(s *Sim) error { return s.AddMember("wwnope", Member{UserID: "u"}) }},
		{"duplicate member", func(s *Sim) error { return s.AddMember(DemoCorpID, Member{UserID: "lisi"}) }},
		{"member without userid", func(s *Sim) error { return s.AddMember(DemoCorpID, Member{}) }},
		{"code for an unknown corp", func(s *Sim) error {
			_, err := s.IssueCode("wwnope", 0, "lisi", ScopeBase, trustedCB)
			return err
		}},
		{"code for an unknown app", func(s *Sim) error {
			_, err := s.IssueCode(DemoCorpID, 5, "lisi", ScopeBase, trustedCB)
			return err
		}},
		{"code with an unknown scope", func(s *Sim) error {
			_, err := s.IssueCode(DemoCorpID, DemoAgentID, "lisi", "snsapi_userinfo", trustedCB)
			return err
		}},
		{"web-login code without agent", func(s *Sim) error {
			_, err := s.IssueCode(DemoCorpID, 0, "lisi", ScopeWebLogin, trustedCB)
			return err
		}},
		{"code with a relative redirect", func(s *Sim) error {
			_, err := s.IssueCode(DemoCorpID, DemoAgentID, "lisi", ScopeBase, "/cb")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			if err := s.Apply(DemoSeed()); err != nil {
				t.Fatal(err)
			}
			if err := tt.do(s); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestLoadSeed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "seed.json")
	os.WriteFile(good, []byte(`{
	  "corps": [{"id": "wwfile", "name": "File Corp", "trusted_domains": ["gate.test"],
	             "apps": [{"agent_id": 5, "secret": "file-secret", "name": "Gate", "legacy": true}]}],
	  "members": {"wwfile": [{"userid": "amy", "name": "Amy", "mobile": "13700000000", "visible_to": [5], "hide_mobile": true}]}
	}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"corps": [`), 0o600)

	seed, err := LoadSeed(good)
	if err != nil {
		t.Fatal(err)
	}
	s := New()
	if err := s.Apply(seed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueCode("wwfile", 5, "amy", ScopePrivateInfo, "https://gate.test/cb"); err != nil {
		t.Errorf("seeded corp unusable: %v", err)
	}
	if !seed.Corps[0].Apps[0].Legacy || !seed.Members["wwfile"][0].HideMobile {
		t.Errorf("JSON fields lost: %+v", seed)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := LoadSeed(path); err == nil {
			t.Errorf("LoadSeed(%s): want an error", path)
		}
	}
}

// syncBuffer lets the test read what Main prints while Main runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMainServesTheDemoSeed(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--trusted-domain", "localhost:3000", "--trusted-domain", "127.0.0.1:3000"}, out)
	}()

	baseRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := baseRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no base URL printed: %q", out.String())
	}
	for _, want := range []string{DemoCorpID, "1000002", DemoSecret, "zhangsan", "sunqi", "localhost:3000, 127.0.0.1:3000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.Get(base + "/cgi-bin/gettoken?corpid=" + DemoCorpID + "&corpsecret=" + DemoSecret)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "access_token") {
		t.Errorf("gettoken: %s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Main: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not stop with its context")
	}
}

func TestMainFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		wantOut string
	}{
		{"help", []string{"--help"}, false, "--trusted-domain"},
		{"unknown flag", []string{"--nope"}, true, ""},
		{"stray argument", []string{"serve"}, true, ""},
		{"trusted domain with scheme", []string{"--trusted-domain", "http://x"}, true, ""},
		{"missing seed file", []string{"--seed", filepath.Join(t.TempDir(), "none.json")}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Main(t.Context(), tt.args, &out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Main error = %v, want error: %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}
