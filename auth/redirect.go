package auth

import (
	"net/url"
	"strings"
)

// SafeRedirect returns target when it is a local path that cannot lead off this site, else fallback.
// Accepted: starts with exactly one "/", and neither "//" nor "/\" (browsers read both as another
// host), no scheme, no control characters or backslashes, checked on the raw value and again after
// percent-decoding (repeatedly), so encoded variants such as "/%2F%2Fevil.com" are refused too.
func SafeRedirect(target, fallback string) string {
	if isLocalPath(target) {
		return target
	}
	return fallback
}

func isLocalPath(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	for range 4 {
		if !localShape(s) {
			return false
		}
		dec, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if dec == s {
			return true
		}
		s = dec
	}
	return false // still changing after several rounds of decoding: refuse rather than guess
}

func localShape(s string) bool {
	if len(s) == 0 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return false
	}
	return !strings.Contains(s, "\u2028") && !strings.Contains(s, "\u2029")
}
