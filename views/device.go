package views

import "strings"

// DeviceName gives a short, human name for a User-Agent ("Chrome on Windows", "WeCom on iPhone").
func DeviceName(ua string) string {
	l := strings.ToLower(ua)
	app := "Browser"
	for _, c := range []struct{ token, name string }{
		{"wxwork/", "WeCom"}, {"micromessenger", "WeChat"}, {"edg/", "Edge"}, {"firefox/", "Firefox"},
		{"chrome/", "Chrome"}, {"safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(l, c.token) {
			app = c.name
			break
		}
	}
	os := ""
	for _, c := range []struct{ token, name string }{
		{"iphone", "iPhone"}, {"ipad", "iPad"}, {"android", "Android"}, {"windows", "Windows"},
		{"mac os x", "macOS"}, {"linux", "Linux"},
	} {
		if strings.Contains(l, c.token) {
			os = c.name
			break
		}
	}
	if os == "" {
		return app
	}
	return app + " · " + os
}
