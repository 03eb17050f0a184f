package views

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var localeFiles embed.FS

// Languages Gatehouse speaks, in the order the language switch lists them.
var languageTags = []language.Tag{language.English, language.SimplifiedChinese}

// Language is one choice of the language switch.
type Language struct {
	Code string // "en", "zh"
	Name string // in its own language
}

// Languages lists the languages of the switch.
func Languages() []Language {
	return []Language{{"en", "English"}, {"zh", "简体中文"}}
}

// Catalog holds every translation, loaded once from the embedded locales/*.{en,zh}.toml files.
type Catalog struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
	ids     map[string][]string // language code → message ids, for the completeness test
	// plain holds, per language, every message without placeholders, rendered once: most strings of
	// a page are looked up here instead of going through go-i18n on every request.
	plain      map[string]map[string]string
	localizers map[string]*i18n.Localizer
	// matched remembers Match's answer per Accept-Language key (see matchKey): browsers send a handful
	// of distinct values. Bounded in entries and in key length, so that odd or huge headers cannot grow
	// it without end: at most maxMatched keys of at most maxMatchKey bytes.
	matched  sync.Map
	nMatched atomic.Int64
}

const (
	maxMatched = 1024
	// maxMatchKey bounds the part of Accept-Language that is parsed and remembered. Real browsers send
	// 10–60 bytes ("zh-CN,zh;q=0.9,en;q=0.8"); the first tags are the preferred ones, so a longer
	// header is cut after its last whole tag within the bound and matched on that.
	maxMatchKey = 128
)

// NewCatalog loads the embedded translations.
func NewCatalog() (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	paths, err := fs.Glob(localeFiles, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	c := &Catalog{bundle: b, matcher: language.NewMatcher(languageTags), ids: map[string][]string{},
		plain: map[string]map[string]string{}, localizers: map[string]*i18n.Localizer{}}
	for _, p := range paths {
		data, err := localeFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		mf, err := b.ParseMessageFileBytes(data, p)
		if err != nil {
			return nil, fmt.Errorf("load translations %s: %w", p, err)
		}
		base, _ := mf.Tag.Base()
		for _, m := range mf.Messages {
			c.ids[base.String()] = append(c.ids[base.String()], m.ID)
		}
	}
	for _, lang := range []string{"en", "zh"} {
		loc := i18n.NewLocalizer(b, bundleTag(lang), "en")
		c.localizers[lang] = loc
		c.plain[lang] = map[string]string{}
		for _, id := range c.ids["en"] {
			if msg, err := loc.Localize(&i18n.LocalizeConfig{MessageID: id}); err == nil && !strings.Contains(msg, "<no value>") {
				c.plain[lang][id] = msg
			}
		}
	}
	return c, nil
}

// Match picks "en" or "zh": the cookie's choice when valid, else the best match for Accept-Language.
func (c *Catalog) Match(cookie, acceptLanguage string) string {
	if cookie == "en" || cookie == "zh" {
		return cookie
	}
	key := matchKey(acceptLanguage)
	if v, ok := c.matched.Load(key); ok {
		return v.(string)
	}
	lang := "en"
	tags, _, _ := language.ParseAcceptLanguage(key)
	tag, _, _ := c.matcher.Match(tags...)
	if base, _ := tag.Base(); base.String() == "zh" {
		lang = "zh"
	}
	if c.nMatched.Add(1) <= maxMatched {
		// A copy, so that the cache never pins the request's (possibly large) header in memory.
		c.matched.Store(strings.Clone(key), lang)
	}
	return lang
}

// matchKey is the part of an Accept-Language header that Match looks at: the whole header when it is
// short, else its leading whole tags within maxMatchKey bytes.
func matchKey(acceptLanguage string) string {
	if len(acceptLanguage) <= maxMatchKey {
		return acceptLanguage
	}
	head := acceptLanguage[:maxMatchKey]
	if i := strings.LastIndexByte(head, ','); i > 0 {
		return head[:i]
	}
	return head
}

func bundleTag(lang string) string {
	if lang == "zh" {
		return "zh-Hans"
	}
	return "en"
}

// Translator returns the translator for a language code from Match.
func (c *Catalog) Translator(lang string) Translator {
	if lang != "zh" {
		lang = "en"
	}
	return Translator{Lang: lang, loc: c.localizers[lang], plain: c.plain[lang]}
}

// MessageIDs lists the message ids of a language ("en" or "zh"), for the test that both are complete.
func (c *Catalog) MessageIDs(lang string) []string { return c.ids[lang] }

// Translator translates message ids for one request.
type Translator struct {
	Lang  string
	loc   *i18n.Localizer
	plain map[string]string
}

// T translates id; args are name/value pairs for the message's {{.Name}} placeholders. A missing
// message shows its id, which the completeness test prevents from shipping.
func (t Translator) T(id string, args ...any) string {
	if len(args) == 0 {
		if msg, ok := t.plain[id]; ok {
			return msg
		}
	}
	if t.loc == nil {
		return id
	}
	var data map[string]any
	if len(args) > 0 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			data[fmt.Sprint(args[i])] = args[i+1]
		}
	}
	s, err := t.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil && s == "" {
		return id
	}
	return s
}

// HTMLLang is the value of <html lang>.
func (t Translator) HTMLLang() string {
	if t.Lang == "zh" {
		return "zh-CN"
	}
	return "en"
}
