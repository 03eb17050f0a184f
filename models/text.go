package models

import (
	"net"
	"strings"
	"unicode/utf8"
)

// CleanText makes s storable in any text column of both databases: invalid UTF-8 becomes U+FFFD and
// NUL bytes are dropped (PostgreSQL refuses both, and an INSERT that fails on them is a 500).
func CleanText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// TruncateText is CleanText cut to at most n characters, never inside one, so the result fits a
// varchar(n) column on PostgreSQL and stays valid UTF-8 (a byte-wise cut can split a character).
func TruncateText(s string, n int) string {
	s = CleanText(s)
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s // n bytes hold at most n characters
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// TextOK tells whether s can be stored as typed: valid UTF-8 without NUL bytes.
func TextOK(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// IsLoopbackHost tells whether a host name is this machine: localhost, 127.0.0.0/8 or ::1. Plain http
// is accepted only there (a WeCom API base, an app's redirect URI).
func IsLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
