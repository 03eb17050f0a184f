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

	"gatehouse/auth"
	"gatehouse/models"
)

// Config is everything Gatehouse reads from its environment (DESIGN.md §3).
type Config struct {
	Addr        string
	DatabaseURL string
	DataDir     string
	SecretKey   []byte // 32+ bytes; see ResolveSecretKey
	// SecretKeyFromFile tells that the key was read from (or generated into) the data dir's
	// secret.key rather than given in GATEHOUSE_SECRET_KEY.
	SecretKeyFromFile bool
	PreviousKeys      [][]byte // older secret keys that may still open sealed values
	BaseURL           *url.URL // nil: built from each request
	TrustedProxies    []string
	AdminUsername     string
	AdminPassword     string
	SessionIdle       time.Duration
	SessionMax        time.Duration
	// HandoffTTL is how long a hand-off QR code works (GATEHOUSE_HANDOFF_TTL, 1m to 10m).
	HandoffTTL     time.Duration
	WeComAPIBase   string
	WeComOAuthBase string
	WeComLoginBase string
	// WeComAllowHTTP lists hosts an authenticator's API base may reach over plain http
	// (GATEHOUSE_WECOM_ALLOW_HTTP); loopback is always allowed, every other host needs https.
	WeComAllowHTTP []string
	Demo           bool
	// MetricsToken, when set, opens /metrics on the public listener to requests carrying it as a
	// Bearer token; without it /metrics is 404 there.
	MetricsToken string
	// AuditRetention is how long audit events are kept (GATEHOUSE_AUDIT_RETENTION, default 180 days);
	// 0 keeps them forever.
	AuditRetention time.Duration
	// MetricsAddr, when set, is a second listener that serves only /metrics (e.g. 127.0.0.1:9100).
	MetricsAddr string
	// DirectorySync is how often the directory sweep re-reads every bound WeCom member
	// (GATEHOUSE_DIRECTORY_SYNC, default 1h); 0 turns it off.
	DirectorySync time.Duration
	// CookieDomain is the session cookie's Domain (GATEHOUSE_COOKIE_DOMAIN): the origin's host or a
	// parent of it, so forward-auth checks from the apps' subdomains carry the session; "" for none.
	CookieDomain string
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
	if c.CookieDomain, err = cookieDomain(getenv("GATEHOUSE_COOKIE_DOMAIN"), c.BaseURL); err != nil {
		return c, &ConfigError{"GATEHOUSE_COOKIE_DOMAIN", err.Error()}
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
		{"GATEHOUSE_HANDOFF_TTL", auth.DefaultHandoffTTL, &c.HandoffTTL},
	}
	for _, d := range durations {
		*d.dst = d.def
		if v := getenv(d.name); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < time.Minute {
				return c, &ConfigError{d.name, fmt.Sprintf("%q is not a duration of at least a minute, such as 30m or 24h", v)}
			}
		}
	}
	if c.HandoffTTL > auth.MaxHandoffTTL {
		return c, &ConfigError{"GATEHOUSE_HANDOFF_TTL", "must be at most 10m: a hand-off QR code is meant to be scanned at once"}
	}
	if c.AuditRetention, err = auditRetention(getenv("GATEHOUSE_AUDIT_RETENTION")); err != nil {
		return c, err
	}
	if c.DirectorySync, err = directorySync(getenv("GATEHOUSE_DIRECTORY_SYNC")); err != nil {
		return c, err
	}
	if c.SessionIdle > c.SessionMax {
		return c, &ConfigError{"GATEHOUSE_SESSION_IDLE", "must not be longer than GATEHOUSE_SESSION_MAX"}
	}
	for _, b := range []struct{ name, val string }{{"WECOM_API_BASE", c.WeComAPIBase}, {"WECOM_OAUTH_BASE", c.WeComOAuthBase}, {"WECOM_LOGIN_BASE", c.WeComLoginBase}} {
		if _, err := parseOrigin(b.val); err != nil {
			return c, &ConfigError{b.name, err.Error()}
		}
	}
	if err := c.loadMetrics(getenv); err != nil {
		return c, err
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

// minMetricsToken is the shortest metrics token accepted: 16 characters of a random token are beyond
// guessing (openssl rand -hex 16 gives 32).
const minMetricsToken = 16

// loadMetrics reads GATEHOUSE_METRICS_TOKEN and GATEHOUSE_METRICS_ADDR. The token is never echoed.
func (c *Config) loadMetrics(getenv func(string) string) error {
	if tok := getenv("GATEHOUSE_METRICS_TOKEN"); tok != "" {
		if len(tok) < minMetricsToken {
			return &ConfigError{"GATEHOUSE_METRICS_TOKEN", fmt.Sprintf("is %d characters long; it must be at least %d (try: openssl rand -hex 32)", len(tok), minMetricsToken)}
		}
		for _, r := range tok {
			if r <= ' ' || r >= 0x7f {
				return &ConfigError{"GATEHOUSE_METRICS_TOKEN", "must be printable ASCII without spaces, as an HTTP Bearer token is (try: openssl rand -hex 32)"}
			}
		}
		c.MetricsToken = tok
	}
	if addr := strings.TrimSpace(getenv("GATEHOUSE_METRICS_ADDR")); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return &ConfigError{"GATEHOUSE_METRICS_ADDR", fmt.Sprintf("%q is not a listen address such as 127.0.0.1:9100", addr)}
		}
		if addr == c.Addr {
			return &ConfigError{"GATEHOUSE_METRICS_ADDR", "must differ from GATEHOUSE_ADDR: it is a separate listener that serves only /metrics"}
		}
		c.MetricsAddr = addr
	}
	return nil
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

// cookieDomain checks GATEHOUSE_COOKIE_DOMAIN against the origin: a host name that is the origin's
// host or a parent of it (a cookie for any other domain is one browsers refuse to set).
func cookieDomain(v string, origin *url.URL) (string, error) {
	d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(v), "."))
	if d == "" {
		return "", nil
	}
	if origin == nil {
		return "", fmt.Errorf("%q needs GATEHOUSE_BASE_URL, the origin it must contain", v)
	}
	if !validHostname(d) || strings.Contains(d, ":") {
		return "", fmt.Errorf("%q is not a domain name such as corp.example (no scheme, port or path)", v)
	}
	host := strings.ToLower(origin.Hostname())
	if host != d && !strings.HasSuffix(host, "."+d) {
		return "", fmt.Errorf("%q is neither GATEHOUSE_BASE_URL's host %s nor a parent domain of it", v, host)
	}
	if host != d && net.ParseIP(host) != nil {
		return "", fmt.Errorf("%q: GATEHOUSE_BASE_URL's host %s is an IP address, so the cookie domain can only be that address", v, host)
	}
	return d, nil
}

// parseOrigin accepts an absolute http(s) URL without query or fragment and drops a trailing slash.
func parseOrigin(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL such as https://gate.example.com", v)
	}
	return u, nil
}

// ResolveSecretKey fills SecretKey in embedded mode from the data dir's secret.key, generating the file
// only when it does not exist. A file that exists but cannot be read, or does not hold a key, stops
// start-up: generating a new key over it would make every sealed WeCom secret unreadable.
func (c *Config) ResolveSecretKey() error {
	if len(c.SecretKey) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "secret.key")
	key, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = createKeyFile(c.DataDir, path)
	}
	if err != nil {
		return err
	}
	c.SecretKey, c.SecretKeyFromFile = key, true
	return nil
}

// keyFileAdvice ends every refusal of the key file: what to do, and what not to.
const keyFileAdvice = "restore it from a backup or set GATEHOUSE_SECRET_KEY to the deployment's key; delete it only if the database holds no WeCom secrets (a new key cannot open them)"

// readKeyFile reads a key file as Gatehouse writes it (one line of at least 32 printable characters;
// Gatehouse writes 64 hex digits). A missing file is os.ErrNotExist; anything else wrong is a
// *ConfigError that names the file but never shows its content.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ConfigError{Var: "GATEHOUSE_SECRET_KEY", Reason: fmt.Sprintf("the key file %s cannot be read (%v): fix its permissions, or %s", path, err, keyFileAdvice)}
	}
	key := strings.TrimSpace(string(b))
	for _, r := range []byte(key) {
		if r < 0x21 || r > 0x7e {
			return nil, &ConfigError{Var: "GATEHOUSE_SECRET_KEY", Reason: fmt.Sprintf("the key file %s is corrupt (it holds bytes other than one line of printable characters): %s", path, keyFileAdvice)}
		}
	}
	if len(key) < 32 {
		return nil, &ConfigError{Var: "GATEHOUSE_SECRET_KEY", Reason: fmt.Sprintf("the key file %s holds %d bytes, not a key of at least 32 (empty or cut short): %s", path, len(key), keyFileAdvice)}
	}
	return []byte(key), nil
}

// createKeyFile writes a new random key without ever replacing a file: it is written in full under a
// temporary name, then linked into place, so a crash leaves no half-written key and two processes
// starting together end up with the same key.
func createKeyFile(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := hex.EncodeToString(raw)
	tmp, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(key + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	if err != nil && !errors.Is(err, os.ErrExist) {
		err = writeKeyExclusive(path, key) // a file system without hard links
	}
	switch {
	case errors.Is(err, os.ErrExist):
		return readKeyFile(path) // another process made it first: use theirs
	case err != nil:
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return []byte(key), nil
}

// writeKeyExclusive creates path with key, failing with os.ErrExist if it exists. A crash while
// writing leaves a short file, which the next start refuses rather than replaces.
func writeKeyExclusive(path, key string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// DefaultAuditRetention is 180 days.
const DefaultAuditRetention = 180 * 24 * time.Hour

// auditRetention reads GATEHOUSE_AUDIT_RETENTION: a duration of at least a day (throttling and the
// dashboard read the last day of events), or 0 to keep every event.
func auditRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultAuditRetention, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 24*time.Hour {
		return 0, &ConfigError{"GATEHOUSE_AUDIT_RETENTION", fmt.Sprintf("%q is not a duration of at least a day such as 4320h (180 days), or 0 to keep events forever", v)}
	}
	return d, nil
}

// DefaultDirectorySync is how often the directory sweep runs unless GATEHOUSE_DIRECTORY_SYNC says.
const DefaultDirectorySync = time.Hour

// directorySync reads GATEHOUSE_DIRECTORY_SYNC: a duration of at least a minute, or 0 for no sweep.
func directorySync(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultDirectorySync, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, &ConfigError{"GATEHOUSE_DIRECTORY_SYNC", fmt.Sprintf("%q is not a duration of at least a minute such as 1h or 30m, or 0 to turn the directory sweep off", v)}
	}
	return d, nil
}
