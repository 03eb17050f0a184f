// Package views renders Gatehouse's pages with templ and holds their translations (English and
// Simplified Chinese). Components take plain data; they never query anything.
package views

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"gatehouse/models"
)

// Page is what every page's layout needs.
type Page struct {
	T     Translator
	Title string
	// Path is the request's path and query, where the language switch returns to.
	Path  string
	User  *models.User
	Flash *Flash
	Demo  *Demo
	Asset func(name string) string
	// Nav names the active admin navigation entry ("dashboard", "users", ...).
	Nav string
}

// Demo is the demo-mode banner's state; nil outside demo mode.
type Demo struct {
	// AsWeCom is on when the browser is pretending to be the WeCom client.
	AsWeCom bool
}

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind    string // "ok", "error" or "info"
	Message string // translated
}

// FieldErrors maps a form field's name to its translated error.
type FieldErrors map[string]string

// Any tells whether there is at least one error.
func (e FieldErrors) Any() bool { return len(e) > 0 }

// Pager describes one page of a listing.
type Pager struct {
	Page, PerPage int
	Total         int64
	// More tells that there are more than Total items (the count stopped there).
	More bool
	// URL returns the link to another page.
	URL func(page int) string
}

// Pages is the number of pages.
func (p Pager) Pages() int {
	if p.PerPage <= 0 {
		return 1
	}
	n := int((p.Total + int64(p.PerPage) - 1) / int64(p.PerPage))
	if n < 1 {
		return 1
	}
	return n
}

// HasNext tells whether a later page exists.
func (p Pager) HasNext() bool { return p.Page < p.Pages() || p.More }

// PageURL builds a listing URL keeping the filters in q and setting page.
func PageURL(path string, q url.Values) func(int) string {
	return func(page int) string {
		v := url.Values{}
		for k, vals := range q {
			if k != "page" && len(vals) > 0 && vals[0] != "" {
				v.Set(k, vals[0])
			}
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return formatTime(*t)
}

func itoa[T ~int | ~int64](n T) string { return fmt.Sprint(n) }

// boolString is "true" or "false", for aria attributes.
func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
