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

// CacheKey identifies the app's access_token in a shared cache. It includes a short hash of the
// secret so that a reset secret never reuses a token fetched with the old one; the secret itself
// never appears in the key.
func (c Config) CacheKey() string {
	sum := sha256.Sum256([]byte(c.Secret))
	return c.CorpID + ":" + strconv.FormatInt(c.AgentID, 10) + ":" + hex.EncodeToString(sum[:])[:16]
}

// endpoint joins the API base and a path such as "/cgi-bin/gettoken".
func (c Config) endpoint(path string) string {
	base := strings.TrimRight(c.APIBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	return base + path
}
