package views_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"gatehouse/views"
)

func TestPagination(t *testing.T) {
	cat, err := views.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	url := func(page int) string { return "/admin/users?page=" + strconv.Itoa(page) }
	for _, tt := range []struct {
		name     string
		pager    views.Pager
		want     []string
		wantNone bool
	}{
		{"one page has no pager", views.Pager{Page: 1, PerPage: 50, Total: 20, URL: url}, nil, true},
		{"exact count", views.Pager{Page: 1, PerPage: 50, Total: 120, URL: url}, []string{"Page 1 of 3", `rel="next"`}, false},
		{"last page has no next", views.Pager{Page: 3, PerPage: 50, Total: 120, URL: url}, []string{"Page 3 of 3", `rel="prev"`}, false},
		{"count stopped: more than, and next", views.Pager{Page: 4, PerPage: 50, Total: 200, More: true, URL: url}, []string{"Page 4 of more than 4", `rel="next"`}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := views.Page{T: cat.Translator("en")}
			if err := views.Pagination(p, tt.pager).Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			if tt.wantNone != (html == "") {
				t.Fatalf("pager rendered %q", html)
			}
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("pager %q lacks %q", html, w)
				}
			}
			if tt.name == "last page has no next" && strings.Contains(html, `rel="next"`) {
				t.Errorf("last page links to a next one: %q", html)
			}
		})
	}
}
