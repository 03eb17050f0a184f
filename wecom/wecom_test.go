package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/wecom"
)

func TestCacheKey(t *testing.T) {
	cfg := wecom.Config{CorpID: "wwcorp", AgentID: 1000002, Secret: "s3cret-value"}
	key := cfg.CacheKey()
	if !strings.HasPrefix(key, "wwcorp:1000002:") || len(key) != len("wwcorp:1000002:")+16 {
		t.Errorf("CacheKey() = %q, want wwcorp:1000002:<16 hex>", key)
	}
	if strings.Contains(key, cfg.Secret) {
		t.Errorf("CacheKey() %q contains the secret", key)
	}
	other := cfg
	other.Secret = "another"
	if other.CacheKey() == key {
		t.Error("a new secret must give a new cache key")
	}
	moved := cfg
	moved.APIBase = "https://qyapi.elsewhere.example"
	if moved.CacheKey() == key || !strings.HasPrefix(moved.CacheKey(), "wwcorp:1000002:") {
		t.Errorf("another API base must give another key of the same app: %q", moved.CacheKey())
	}
	same := cfg
	same.APIBase = wecom.DefaultAPIBase + "/"
	if same.CacheKey() != key {
		t.Error("the default API base written out must give the same key as an empty one")
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		code    int
		meaning string
		config  bool
	}{
		{-1, "system busy", false},
		{40001, "invalid secret", true},
		{40013, "invalid corpid", true},
		{40014, "invalid access_token", false},
		{40029, "invalid code", false},
		{40056, "invalid agentid", true},
		{41004, "corpsecret missing", true},
		{42001, "access_token expired", false},
		{45009, "API rate limit reached", false},
		{48002, "API forbidden", true},
		{50001, "redirect_uri not a trusted domain", true},
		{60011, "member not in the app's visible range", false},
		{60020, "caller IP not trusted", true},
		{60111, "userid not found", false},
		{84014, "user_ticket expired", false},
		{84015, "user_ticket invalid", false},
		{301002, "access_token belongs to another app", true},
		{wecom.CodeUnreachable, "WeCom unreachable or timed out", false},
		{99999, "unknown error", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			if got := wecom.Meaning(tt.code); got != tt.meaning {
				t.Errorf("Meaning = %q, want %q", got, tt.meaning)
			}
			if got := wecom.IsConfigError(tt.code); got != tt.config {
				t.Errorf("IsConfigError = %v, want %v", got, tt.config)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("boom"), 0},
		{"wecom error", &wecom.Error{Op: "gettoken", Code: 40001}, 40001},
		{"wrapped wecom error", fmt.Errorf("callback: %w", &wecom.Error{Op: "getuserinfo", Code: 40029}), 40029},
		{"bare deadline", context.DeadlineExceeded, wecom.CodeUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wecom.CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf = %d, want %d", got, tt.want)
			}
		})
	}
	if got, want := (&wecom.Error{Op: "gettoken", Code: 40001}).Error(), "wecom gettoken: errcode 40001 (invalid secret)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestMemoryCache(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cache := wecom.NewMemoryCacheWithClock(func() time.Time { return now })
	fetches := 0
	fetch := func(context.Context) (string, time.Duration, error) {
		fetches++
		return fmt.Sprintf("tok%d", fetches), time.Hour, nil
	}
	get := func() string {
		t.Helper()
		tok, err := cache.Token(t.Context(), "k", fetch)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	steps := []struct {
		name string
		act  func()
		want string
	}{
		{"first use fetches", func() {}, "tok1"},
		{"second use is cached", func() {}, "tok1"},
		{"dropping another token keeps it", func() { cache.Drop(t.Context(), "k", "stale") }, "tok1"},
		{"dropping this token forgets it", func() { cache.Drop(t.Context(), "k", "tok1") }, "tok2"},
		{"expiry refetches", func() { now = now.Add(time.Hour) }, "tok3"},
		{"dropping any token forgets it", func() { cache.Drop(t.Context(), "k", "") }, "tok4"},
	}
	for _, s := range steps {
		s.act()
		if got := get(); got != s.want {
			t.Errorf("%s: token = %q, want %q", s.name, got, s.want)
		}
	}
	if _, err := cache.Token(t.Context(), "other", func(context.Context) (string, time.Duration, error) {
		return "", 0, errors.New("down")
	}); err == nil {
		t.Error("a failed fetch must return its error")
	}
}

func TestURLBuilders(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{
			"in-client authorize",
			wecom.AuthorizeURL("https://open.weixin.qq.com", "wwcorp", 1000002, "https://gate.example.com/auth/wecom/corp/callback", "abc123"),
			"https://open.weixin.qq.com/connect/oauth2/authorize?appid=wwcorp&redirect_uri=https%3A%2F%2Fgate.example.com%2Fauth%2Fwecom%2Fcorp%2Fcallback&response_type=code&scope=snsapi_privateinfo&state=abc123&agentid=1000002#wechat_redirect",
		},
		{
			"authorize on a prefixed simulator",
			wecom.AuthorizeURL("http://localhost:8080/_wecom/", "wwdemo", 7, "http://localhost:8080/cb", "s"),
			"http://localhost:8080/_wecom/connect/oauth2/authorize?appid=wwdemo&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb&response_type=code&scope=snsapi_privateinfo&state=s&agentid=7#wechat_redirect",
		},
		{
			"QR login",
			wecom.QRLoginURL("https://login.work.weixin.qq.com", "wwcorp", 1000002, "https://gate.example.com/cb", "xyz", "en"),
			"https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=wwcorp&agentid=1000002&redirect_uri=https%3A%2F%2Fgate.example.com%2Fcb&state=xyz&lang=en",
		},
		{
			"QR login without lang",
			wecom.QRLoginURL("https://login.work.weixin.qq.com", "wwcorp", 1, "https://g/cb", "x", ""),
			"https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=wwcorp&agentid=1&redirect_uri=https%3A%2F%2Fg%2Fcb&state=x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
		})
	}
}

func TestUserAgentDetection(t *testing.T) {
	tests := []struct {
		name   string
		ua     string
		wecom  bool
		mobile bool
	}{
		{"WeCom on Windows", wecom.UserAgentDesktop, true, false},
		{"WeCom on iOS", wecom.UserAgentIOS, true, true},
		{"WeCom on Android", wecom.UserAgentAndroid, true, true},
		{"WeCom on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) wxwork/4.1.30 (MicroMessenger/6.2) MacWechat", true, false},
		{"upper-case token", "Mozilla/5.0 WXWork/4.0.0", true, false},
		{"personal WeChat on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN", false, true},
		{"desktop Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36", false, false},
		{"iPad Safari", "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/604.1", false, true},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wecom.IsWeComClient(tt.ua); got != tt.wecom {
				t.Errorf("IsWeComClient = %v, want %v", got, tt.wecom)
			}
			if got := wecom.IsMobile(tt.ua); got != tt.mobile {
				t.Errorf("IsMobile = %v, want %v", got, tt.mobile)
			}
		})
	}
}
