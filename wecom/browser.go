package wecom

import (
	"net/url"
	"strconv"
	"strings"
)

// Default browser-facing hosts; demo mode and tests point them at the simulator.
const (
	DefaultOAuthBase = "https://open.weixin.qq.com"
	DefaultLoginBase = "https://login.work.weixin.qq.com"
)

// Example User-Agents of the WeCom client (shared/wecom-api.md; the elided middle parts are
// filled in with typical values), for tests and the demo.
const (
	UserAgentDesktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.101 Safari/537.36 Language/zh ColorScheme/Light wxwork/4.1.39 (MicroMessenger/6.2) WindowsWechat"
	UserAgentIOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.39 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
	UserAgentAndroid = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36 wxwork/4.1.36 MicroMessenger/7.0.1 NetType/WIFI Language/zh Lang/zh ColorScheme/Light"
)

// AuthorizeURL is the in-client OAuth URL (scope snsapi_privateinfo, so a consenting member's
// mobile can be read), with the parameters in WeCom's documented order; WeCom requires the
// #wechat_redirect fragment. state must be [a-zA-Z0-9]{0,128}.
func AuthorizeURL(oauthBase, corpID string, agentID int64, redirectURI, state string) string {
	return strings.TrimRight(oauthBase, "/") + "/connect/oauth2/authorize" +
		"?appid=" + url.QueryEscape(corpID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code" +
		"&scope=snsapi_privateinfo" +
		"&state=" + url.QueryEscape(state) +
		"&agentid=" + strconv.FormatInt(agentID, 10) +
		"#wechat_redirect"
}

// QRLoginURL is the web login (QR code, or one click from a signed-in desktop client) URL. lang
// is "zh" or "en"; empty leaves WeCom's default.
func QRLoginURL(loginBase, corpID string, agentID int64, redirectURI, state, lang string) string {
	u := strings.TrimRight(loginBase, "/") + "/wwlogin/sso/login" +
		"?login_type=CorpApp" +
		"&appid=" + url.QueryEscape(corpID) +
		"&agentid=" + strconv.FormatInt(agentID, 10) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&state=" + url.QueryEscape(state)
	if lang != "" {
		u += "&lang=" + url.QueryEscape(lang)
	}
	return u
}

// IsWeComClient reports whether the User-Agent is the WeCom client's built-in browser
// ("wxwork/<version>"). Personal WeChat ("MicroMessenger" alone) cannot complete WeCom OAuth.
func IsWeComClient(userAgent string) bool {
	return strings.Contains(strings.ToLower(userAgent), "wxwork/")
}

// IsMobile reports whether the User-Agent is a phone or tablet, WeCom's mobile client included.
// WeCom's desktop clients (WindowsWechat, MacWechat) and desktop browsers are not.
func IsMobile(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	if strings.Contains(ua, "windowswechat") || strings.Contains(ua, "macwechat") {
		return false
	}
	for _, token := range []string{"mobile", "android", "iphone", "ipad"} {
		if strings.Contains(ua, token) {
			return true
		}
	}
	return false
}
