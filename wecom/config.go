package wecom

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// DefaultAPIBase is WeCom's public API host. Private deployments and tests use another.
const DefaultAPIBase = "https://qyapi.weixin.qq.com"

// Config names one self-built app of one corp: what gettoken needs, and where to call.
type Config struct {
	APIBase string // e.g. "https://qyapi.weixin.qq.com"; a trailing slash is ignored; empty means DefaultAPIBase
	CorpID  string
	AgentID int64
	Secret  string
}

// CacheKey identifies the app's access_token in a shared cache: corp, agent, then a short hash of
// the API base and the secret, so that a reset secret or another API host never reuses a token
// fetched with the old one (a token is never sent to a host that did not issue it); the secret itself
// never appears in the key. The "corp:agent:" prefix lets a settings change drop every key of an app.
func (c Config) CacheKey() string {
	sum := sha256.Sum256([]byte(c.base() + "\x00" + c.Secret))
	return c.CorpID + ":" + strconv.FormatInt(c.AgentID, 10) + ":" + hex.EncodeToString(sum[:])[:16]
}

// base is the API base without a trailing slash, DefaultAPIBase when empty.
func (c Config) base() string {
	if base := strings.TrimRight(c.APIBase, "/"); base != "" {
		return base
	}
	return DefaultAPIBase
}

// endpoint joins the API base and a path such as "/cgi-bin/gettoken".
func (c Config) endpoint(path string) string {
	return c.base() + path
}
