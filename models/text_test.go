package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/models"
)

func TestTruncateText(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short ASCII is kept", "alice", 10, "alice"},
		{"long ASCII is cut", "abcdef", 3, "abc"},
		{"cut never splits a character", "中文字符", 2, "中文"},
		{"a cut inside a multi-byte character keeps whole characters", "a中b", 2, "a中"},
		{"invalid UTF-8 becomes the replacement character", "a\xffb", 10, "a\uFFFDb"},
		{"NUL bytes are dropped", "a\x00b", 10, "ab"},
		{"zero length is empty", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := models.TruncateText(tt.in, tt.n)
			if got != tt.want || !utf8.ValidString(got) || utf8.RuneCountInString(got) > tt.n {
				t.Fatalf("TruncateText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
	if got := models.TruncateText(strings.Repeat("é", 300), 256); utf8.RuneCountInString(got) != 256 {
		t.Fatalf("300 two-byte characters cut to %d characters, want 256", utf8.RuneCountInString(got))
	}
}
