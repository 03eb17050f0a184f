package views_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gatehouse/views"
)

func idSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func TestTranslationsComplete(t *testing.T) {
	cat, err := views.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	en, zh := idSet(cat.MessageIDs("en")), idSet(cat.MessageIDs("zh"))
	if len(en) < 50 || len(zh) < 50 {
		t.Fatalf("only %d English and %d Chinese messages loaded", len(en), len(zh))
	}
	tests := []struct {
		name     string
		from, in map[string]bool
	}{
		{"every English message has a Chinese translation", en, zh},
		{"every Chinese message exists in English", zh, en},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var missing []string
			for id := range tt.from {
				if !tt.in[id] {
					missing = append(missing, id)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Fatalf("missing: %s", strings.Join(missing, ", "))
			}
		})
	}
}

// tLiteral matches T("message.id" in templ and Go sources; the second group is set when the literal
// is only the start of an id built at run time (T("a.b." + x)).
var tLiteral = regexp.MustCompile(`\bT\("([^"\\]+)"(\s*\+)?`)

func TestUsedMessageIDsExist(t *testing.T) {
	cat, err := views.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	en, zh := idSet(cat.MessageIDs("en")), idSet(cat.MessageIDs("zh"))
	var files []string
	for _, pattern := range []string{"*.templ", "../handlers/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tLiteral.FindAllStringSubmatch(string(src), -1) {
			id := m[1]
			if strings.HasSuffix(id, ".") || strings.HasSuffix(id, "_") || m[2] != "" {
				// A dynamic prefix completed at run time: at least one message must start with it.
				if !hasPrefix(en, id) || !hasPrefix(zh, id) {
					t.Errorf("%s builds ids from %q, but no message in both languages starts with it", f, id)
				}
				continue
			}
			seen++
			if !en[id] {
				t.Errorf("%s uses %q, which has no English message", f, id)
			}
			if !zh[id] {
				t.Errorf("%s uses %q, which has no Chinese message", f, id)
			}
		}
	}
	if seen < 50 {
		t.Fatalf("found only %d message ids in the sources: is the pattern still right?", seen)
	}
}

func TestDynamicMessageFamiliesExist(t *testing.T) {
	cat, err := views.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	en := idSet(cat.MessageIDs("en"))
	for _, id := range []string{"authenticator.type_password", "authenticator.type_wecom",
		"validation.required", "validation.username", "validation.username_taken", "validation.too_long", "validation.email",
		"validation.mobile", "validation.mobile_taken", "validation.password_short", "validation.password_long", "validation.last_admin"} {
		if !en[id] {
			t.Errorf("missing message %q", id)
		}
	}
}

func TestMatchLanguage(t *testing.T) {
	cat, err := views.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ cookie, accept, want string }{
		{"", "", "en"},
		{"", "zh-CN,zh;q=0.9", "zh"},
		{"", "zh-Hans", "zh"},
		{"", "en-GB,en;q=0.8,zh;q=0.5", "en"},
		{"", "de-DE", "en"},
		{"en", "zh-CN", "en"},
		{"zh", "en-US", "zh"},
		{"fr", "zh-CN", "zh"},
	}
	for _, tt := range tests {
		if got := cat.Match(tt.cookie, tt.accept); got != tt.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tt.cookie, tt.accept, got, tt.want)
		}
	}
}

func hasPrefix(ids map[string]bool, prefix string) bool {
	for id := range ids {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}
