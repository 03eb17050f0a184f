package views

import (
	"fmt"
	"strings"
	"testing"
)

// matchedSize is the number of remembered Accept-Language keys and their total length in bytes.
func (c *Catalog) matchedSize() (keys, bytes int) {
	c.matched.Range(func(k, _ any) bool {
		keys++
		bytes += len(k.(string))
		return true
	})
	return keys, bytes
}

// One huge Accept-Language header per request grew the cache by the header's size, for good: 60
// requests with 1 MB each kept ~100 MB. The cache must stay within its bound whatever arrives.
func TestSecurityAcceptLanguageCacheBounded(t *testing.T) {
	c, err := NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("x-private-tag;q=0.1,", 1000) // 20 KB
	for i := 0; i < 2*maxMatched; i++ {
		c.Match("", fmt.Sprintf("en-%d,%s", i, filler))
	}
	keys, size := c.matchedSize()
	if keys > maxMatched || size > maxMatched*maxMatchKey {
		t.Fatalf("after %d distinct 20 KB headers the cache holds %d keys, %d bytes; want at most %d keys, %d bytes",
			2*maxMatched, keys, size, maxMatched, maxMatched*maxMatchKey)
	}
}

func TestMatchLongHeaders(t *testing.T) {
	c, err := NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x-private-tag;q=0.1,", 500)
	tests := []struct {
		name, header, want string
	}{
		{"short Chinese header", "zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"long header led by Chinese", "zh-CN,zh;q=0.9," + long, "zh"},
		{"long header led by English", "en-GB,en;q=0.9," + long + "zh-CN", "en"},
		{"one huge tag without commas", strings.Repeat("z", 1<<20), "en"},
		{"empty header", "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // the second answer comes from the cache
				if got := c.Match("", tt.header); got != tt.want {
					t.Fatalf("Match (round %d) = %q, want %q", i+1, got, tt.want)
				}
			}
		})
	}
}
