package web_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/web"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := web.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DatabaseURL != "" || c.DataDir != "./data" || c.SecretKey != nil || c.BaseURL != nil ||
		len(c.TrustedProxies) != 0 || c.AdminUsername != "admin" || c.AdminPassword != "" ||
		c.SessionIdle != 24*time.Hour || c.SessionMax != 168*time.Hour ||
		c.WeComAPIBase != "https://qyapi.weixin.qq.com" || c.WeComOAuthBase != "https://open.weixin.qq.com" ||
		c.WeComLoginBase != "https://login.work.weixin.qq.com" || c.Demo || c.MetricsToken != "" || c.MetricsAddr != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

const goodKey = "0123456789abcdef0123456789abcdef"

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		bad   string // the variable named by the error, "" for success
		check func(c web.Config) bool
	}{
		{"listen address", map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:9000"}, "", func(c web.Config) bool { return c.Addr == "127.0.0.1:9000" }},
		{"listen address without port", map[string]string{"GATEHOUSE_ADDR": "nonsense"}, "GATEHOUSE_ADDR", nil},
		{"PostgreSQL URL with a secret key", map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/gate", "GATEHOUSE_SECRET_KEY": goodKey}, "",
			func(c web.Config) bool {
				return c.DatabaseURL == "postgres://u:p@db:5432/gate" && string(c.SecretKey) == goodKey
			}},
		{"postgresql:// scheme", map[string]string{"DATABASE_URL": "postgresql://db/gate", "GATEHOUSE_SECRET_KEY": goodKey}, "", nil},
		{"MySQL URL", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL", nil},
		{"database URL without host", map[string]string{"DATABASE_URL": "postgres:///gate", "GATEHOUSE_SECRET_KEY": goodKey}, "DATABASE_URL", nil},
		{"PostgreSQL without a secret key", map[string]string{"DATABASE_URL": "postgres://db/gate"}, "GATEHOUSE_SECRET_KEY", nil},
		{"data dir", map[string]string{"GATEHOUSE_DATA_DIR": "/var/lib/gatehouse"}, "", func(c web.Config) bool { return c.DataDir == "/var/lib/gatehouse" }},
		{"short secret key", map[string]string{"GATEHOUSE_SECRET_KEY": "short"}, "GATEHOUSE_SECRET_KEY", nil},
		{"previous keys for rotation", map[string]string{"GATEHOUSE_SECRET_KEY_PREVIOUS": goodKey + "1, " + goodKey + "2"}, "", func(c web.Config) bool { return len(c.PreviousKeys) == 2 }},
		{"short previous key", map[string]string{"GATEHOUSE_SECRET_KEY_PREVIOUS": "short"}, "GATEHOUSE_SECRET_KEY_PREVIOUS", nil},
		{"base URL with trailing slash", map[string]string{"GATEHOUSE_BASE_URL": "https://gate.example.com/"}, "", func(c web.Config) bool { return c.BaseURL.String() == "https://gate.example.com" }},
		{"base URL without scheme", map[string]string{"GATEHOUSE_BASE_URL": "gate.example.com"}, "GATEHOUSE_BASE_URL", nil},
		{"base URL with a query", map[string]string{"GATEHOUSE_BASE_URL": "https://gate.example.com/?x=1"}, "GATEHOUSE_BASE_URL", nil},
		{"trusted proxies", map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1"}, "", func(c web.Config) bool { return len(c.TrustedProxies) == 2 }},
		{"trusted proxy that is not an address", map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "GATEHOUSE_TRUSTED_PROXIES", nil},
		{"admin username", map[string]string{"GATEHOUSE_ADMIN_USERNAME": "boss"}, "", func(c web.Config) bool { return c.AdminUsername == "boss" }},
		{"admin username with spaces", map[string]string{"GATEHOUSE_ADMIN_USERNAME": "the boss"}, "GATEHOUSE_ADMIN_USERNAME", nil},
		{"admin password", map[string]string{"GATEHOUSE_ADMIN_PASSWORD": "long-enough"}, "", func(c web.Config) bool { return c.AdminPassword == "long-enough" }},
		{"short admin password", map[string]string{"GATEHOUSE_ADMIN_PASSWORD": "short"}, "GATEHOUSE_ADMIN_PASSWORD", nil},
		{"session idle", map[string]string{"GATEHOUSE_SESSION_IDLE": "30m"}, "", func(c web.Config) bool { return c.SessionIdle == 30*time.Minute }},
		{"audit retention default is 180 days", map[string]string{}, "", func(c web.Config) bool { return c.AuditRetention == 4320*time.Hour }},
		{"audit retention set", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "720h"}, "", func(c web.Config) bool { return c.AuditRetention == 720*time.Hour }},
		{"audit retention 0 keeps forever", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "0"}, "", func(c web.Config) bool { return c.AuditRetention == 0 }},
		{"audit retention not a duration", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "180d"}, "GATEHOUSE_AUDIT_RETENTION", nil},
		{"audit retention under a day", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "1h"}, "GATEHOUSE_AUDIT_RETENTION", nil},
		{"audit retention negative", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "-24h"}, "GATEHOUSE_AUDIT_RETENTION", nil},
		{"session idle that is not a duration", map[string]string{"GATEHOUSE_SESSION_IDLE": "abc"}, "GATEHOUSE_SESSION_IDLE", nil},
		{"session idle under a minute", map[string]string{"GATEHOUSE_SESSION_IDLE": "30s"}, "GATEHOUSE_SESSION_IDLE", nil},
		{"session idle longer than max", map[string]string{"GATEHOUSE_SESSION_IDLE": "200h"}, "GATEHOUSE_SESSION_IDLE", nil},
		{"hand-off TTL by default", map[string]string{}, "", func(c web.Config) bool { return c.HandoffTTL == 5*time.Minute }},
		{"hand-off TTL", map[string]string{"GATEHOUSE_HANDOFF_TTL": "2m"}, "", func(c web.Config) bool { return c.HandoffTTL == 2*time.Minute }},
		{"hand-off TTL that is not a duration", map[string]string{"GATEHOUSE_HANDOFF_TTL": "soon"}, "GATEHOUSE_HANDOFF_TTL", nil},
		{"hand-off TTL under a minute", map[string]string{"GATEHOUSE_HANDOFF_TTL": "30s"}, "GATEHOUSE_HANDOFF_TTL", nil},
		{"hand-off TTL over ten minutes", map[string]string{"GATEHOUSE_HANDOFF_TTL": "11m"}, "GATEHOUSE_HANDOFF_TTL", nil},
		{"session max", map[string]string{"GATEHOUSE_SESSION_MAX": "720h"}, "", func(c web.Config) bool { return c.SessionMax == 720*time.Hour }},
		{"session max that is not a duration", map[string]string{"GATEHOUSE_SESSION_MAX": "1 week"}, "GATEHOUSE_SESSION_MAX", nil},
		{"WeCom API base", map[string]string{"WECOM_API_BASE": "http://127.0.0.1:9999"}, "", func(c web.Config) bool { return c.WeComAPIBase == "http://127.0.0.1:9999" }},
		{"WeCom API base that is not a URL", map[string]string{"WECOM_API_BASE": "qyapi"}, "WECOM_API_BASE", nil},
		{"WeCom OAuth base that is not a URL", map[string]string{"WECOM_OAUTH_BASE": "ftp://x"}, "WECOM_OAUTH_BASE", nil},
		{"WeCom login base that is not a URL", map[string]string{"WECOM_LOGIN_BASE": "login"}, "WECOM_LOGIN_BASE", nil},
		{"hosts allowed plain http to WeCom", map[string]string{"GATEHOUSE_WECOM_ALLOW_HTTP": "wecom-proxy.internal, 10.0.0.5"}, "",
			func(c web.Config) bool {
				return len(c.WeComAllowHTTP) == 2 && c.WeComAllowHTTP[0] == "wecom-proxy.internal"
			}},
		{"allow-http host with a scheme", map[string]string{"GATEHOUSE_WECOM_ALLOW_HTTP": "http://wecom-proxy.internal"}, "GATEHOUSE_WECOM_ALLOW_HTTP", nil},
		{"allow-http host with a port", map[string]string{"GATEHOUSE_WECOM_ALLOW_HTTP": "wecom-proxy.internal:8080"}, "GATEHOUSE_WECOM_ALLOW_HTTP", nil},
		{"demo on", map[string]string{"GATEHOUSE_DEMO": "1"}, "", func(c web.Config) bool { return c.Demo }},
		{"demo off", map[string]string{"GATEHOUSE_DEMO": "false"}, "", func(c web.Config) bool { return !c.Demo }},
		{"demo neither on nor off", map[string]string{"GATEHOUSE_DEMO": "maybe"}, "GATEHOUSE_DEMO", nil},
		{"metrics token", map[string]string{"GATEHOUSE_METRICS_TOKEN": goodKey}, "", func(c web.Config) bool { return c.MetricsToken == goodKey }},
		{"short metrics token", map[string]string{"GATEHOUSE_METRICS_TOKEN": "secret-short"}, "GATEHOUSE_METRICS_TOKEN", nil},
		{"metrics token with a space", map[string]string{"GATEHOUSE_METRICS_TOKEN": "secret token 0123456789"}, "GATEHOUSE_METRICS_TOKEN", nil},
		{"metrics token with a non-ASCII character", map[string]string{"GATEHOUSE_METRICS_TOKEN": "secret-令牌-0123456789"}, "GATEHOUSE_METRICS_TOKEN", nil},
		{"metrics address", map[string]string{"GATEHOUSE_METRICS_ADDR": "127.0.0.1:9100"}, "", func(c web.Config) bool { return c.MetricsAddr == "127.0.0.1:9100" }},
		{"metrics address without port", map[string]string{"GATEHOUSE_METRICS_ADDR": "localhost"}, "GATEHOUSE_METRICS_ADDR", nil},
		{"metrics address equal to the listen address", map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:9000", "GATEHOUSE_METRICS_ADDR": "127.0.0.1:9000"}, "GATEHOUSE_METRICS_ADDR", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := web.LoadConfig(func(k string) string { return tt.env[k] })
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				if tt.check != nil && !tt.check(c) {
					t.Fatalf("config: %+v", c)
				}
				return
			}
			var ce *web.ConfigError
			if !errors.As(err, &ce) || ce.Var != tt.bad {
				t.Fatalf("LoadConfig: %v, want an error naming %s", err, tt.bad)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("the error takes more than one line: %q", err)
			}
			for k, v := range tt.env {
				if strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") {
					if strings.Contains(err.Error(), v) {
						t.Fatalf("the error shows the secret value of %s: %q", k, err)
					}
				}
			}
		})
	}
}
