package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/models"
)

// Config is everything Gatehouse reads from its environment (DESIGN.md §3).
type Config struct {
	Addr           string
	DatabaseURL    string
	DataDir        string
	SecretKey      []byte   // 32+ bytes; see ResolveSecretKey
	PreviousKeys   [][]byte // older secret keys that may still open sealed values
	BaseURL        *url.URL // nil: built from each request
	TrustedProxies []string
	AdminUsername  string
	AdminPassword  string
	SessionIdle    time.Duration
	SessionMax     time.Duration
	WeComAPIBase   string
	WeComOAuthBase string
	WeComLoginBase string
	// WeComAllowHTTP lists hosts an authenticator's API base may reach over plain http
	// (GATEHOUSE_WECOM_ALLOW_HTTP); loopback is always allowed, every other host needs https.
	WeComAllowHTTP []string
	Demo           bool
}

// ConfigError names the variable whose value is wrong.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Reason }

// LoadConfig reads the configuration through getenv (os.Getenv in production) and reports the first bad
// value. Values are never echoed for secret variables.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:           get("GATEHOUSE_ADDR", ":8080"),
		DatabaseURL:    get("DATABASE_URL", ""),
		DataDir:        get("GATEHOUSE_DATA_DIR", "./data"),
		AdminUsername:  get("GATEHOUSE_ADMIN_USERNAME", "admin"),
		AdminPassword:  getenv("GATEHOUSE_ADMIN_PASSWORD"),
		WeComAPIBase:   get("WECOM_API_BASE", "https://qyapi.weixin.qq.com"),
		WeComOAuthBase: get("WECOM_OAUTH_BASE", "https://open.weixin.qq.com"),
		WeComLoginBase: get("WECOM_LOGIN_BASE", "https://login.work.weixin.qq.com"),
	}
	var err error
	if _, _, err = net.SplitHostPort(c.Addr); err != nil {
		return c, &ConfigError{"GATEHOUSE_ADDR", fmt.Sprintf("%q is not a listen address such as :8080 or 127.0.0.1:8080", c.Addr)}
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return c, &ConfigError{"DATABASE_URL", "must be a postgres://user:password@host:port/database URL (unset it to use the embedded SQLite database)"}
		}
	}
	if key := getenv("GATEHOUSE_SECRET_KEY"); key != "" {
		if len(key) < 32 {
			return c, &ConfigError{"GATEHOUSE_SECRET_KEY", fmt.Sprintf("is %d bytes long; it must be at least 32 (try: openssl rand -hex 32)", len(key))}
		}
		c.SecretKey = []byte(key)
	} else if c.DatabaseURL != "" {
		return c, &ConfigError{"GATEHOUSE_SECRET_KEY", "is required with DATABASE_URL, and must be the same on every instance (try: openssl rand -hex 32)"}
	}
	for _, k := range strings.Split(getenv("GATEHOUSE_SECRET_KEY_PREVIOUS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if len(k) < 32 {
			return c, &ConfigError{"GATEHOUSE_SECRET_KEY_PREVIOUS", "each comma-separated key must be at least 32 bytes long"}
		}
		c.PreviousKeys = append(c.PreviousKeys, []byte(k))
	}
	if v := getenv("GATEHOUSE_BASE_URL"); v != "" {
		if c.BaseURL, err = parseOrigin(v); err != nil {
			return c, &ConfigError{"GATEHOUSE_BASE_URL", err.Error()}
		}
	}
	for _, cidr := range strings.Split(getenv("GATEHOUSE_TRUSTED_PROXIES"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(cidr); err != nil && net.ParseIP(cidr) == nil {
			return c, &ConfigError{"GATEHOUSE_TRUSTED_PROXIES", fmt.Sprintf("%q is not an IP address or CIDR such as 10.0.0.0/8", cidr)}
		}
		c.TrustedProxies = append(c.TrustedProxies, cidr)
	}
	if !models.ValidUsername(c.AdminUsername) {
		return c, &ConfigError{"GATEHOUSE_ADMIN_USERNAME", "must be 1-64 letters, digits, '.', '_', '-' or '@'"}
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 8 {
		return c, &ConfigError{"GATEHOUSE_ADMIN_PASSWORD", "must be at least 8 characters long"}
	}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"GATEHOUSE_SESSION_IDLE", 24 * time.Hour, &c.SessionIdle},
		{"GATEHOUSE_SESSION_MAX", 168 * time.Hour, &c.SessionMax},
	}
	for _, d := range durations {
		*d.dst = d.def
		if v := getenv(d.name); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < time.Minute {
				return c, &ConfigError{d.name, fmt.Sprintf("%q is not a duration of at least a minute, such as 30m or 24h", v)}
			}
		}
	}
	if c.SessionIdle > c.SessionMax {
		return c, &ConfigError{"GATEHOUSE_SESSION_IDLE", "must not be longer than GATEHOUSE_SESSION_MAX"}
	}
	for _, b := range []struct{ name, val string }{{"WECOM_API_BASE", c.WeComAPIBase}, {"WECOM_OAUTH_BASE", c.WeComOAuthBase}, {"WECOM_LOGIN_BASE", c.WeComLoginBase}} {
		if _, err := parseOrigin(b.val); err != nil {
			return c, &ConfigError{b.name, err.Error()}
		}
	}
	for _, h := range strings.Split(getenv("GATEHOUSE_WECOM_ALLOW_HTTP"), ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if !validHostname(h) {
			return c, &ConfigError{"GATEHOUSE_WECOM_ALLOW_HTTP", fmt.Sprintf("%q is not a host name or IP address (a comma-separated list of hosts, without scheme or port)", h)}
		}
		c.WeComAllowHTTP = append(c.WeComAllowHTTP, strings.ToLower(h))
	}
	switch strings.ToLower(getenv("GATEHOUSE_DEMO")) {
	case "", "0", "false", "no", "off":
	case "1", "true", "yes", "on":
		c.Demo = true
	default:
		return c, &ConfigError{"GATEHOUSE_DEMO", "must be 1 or 0 (true or false)"}
	}
	return c, nil
}

// validHostname accepts an IP address or a DNS name (letters, digits, '-' and '.'), without port.
func validHostname(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// parseOrigin accepts an absolute http(s) URL without query or fragment and drops a trailing slash.
func parseOrigin(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL such as https://gate.example.com", v)
	}
	return u, nil
}

// ResolveSecretKey fills SecretKey in embedded mode from the data dir, generating it on first start.
func (c *Config) ResolveSecretKey() error {
	if len(c.SecretKey) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.SecretKey = []byte(strings.TrimSpace(string(b)))
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read secret key: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	c.SecretKey = []byte(key)
	return nil
}
