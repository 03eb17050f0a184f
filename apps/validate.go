package apps

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gatehouse/models"
)

// Limits on the form's lists and fields.
const (
	maxTitle   = 128
	maxLines   = 50
	maxURI     = 2000
	maxDomain  = 253
	maxGroups  = 100
	maxNameLen = 63
)

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validate checks in against the rules and the other apps (read through tx, inside the saving
// transaction) and applies it to a. Field errors come back as Invalid.
func (s *Apps) validate(ctx context.Context, tx *models.Store, in Input, a *models.App, creating bool) error {
	bad := Invalid{}
	if creating {
		if in.Type != models.AppTypeOIDC && in.Type != models.AppTypeProxy {
			bad["type"] = Problem{Code: "type"}
			return bad
		}
		a.Type = in.Type
	}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		bad["name"] = Problem{Code: "required"}
	case !slugPattern.MatchString(name):
		bad["name"] = Problem{Code: "slug"}
	case name != a.Name:
		other, err := tx.AppByName(ctx, name)
		switch {
		case err == nil && other.ID != a.ID:
			bad["name"] = Problem{Code: "name_taken"}
		case err != nil && !errors.Is(err, models.ErrNotFound):
			return err
		}
	}
	title := strings.TrimSpace(in.Title)
	switch {
	case title == "":
		bad["title"] = Problem{Code: "required"}
	case utf8.RuneCountInString(title) > maxTitle:
		bad["title"] = Problem{Code: "too_long"}
	case strings.ContainsFunc(title, unicode.IsControl):
		bad["title"] = Problem{Code: "control"} // the title goes into configuration files
	}
	groups, err := s.validGroups(ctx, tx, in, bad)
	if err != nil {
		return err
	}
	var redirects, logouts, domains []string
	if a.Type == models.AppTypeOIDC {
		redirects = validURIs(in.RedirectURIs, "redirect_uris", true, bad)
		logouts = validURIs(in.PostLogoutRedirectURIs, "post_logout_redirect_uris", false, bad)
	} else {
		if domains = validDomains(in.Domains, bad); domains != nil {
			if err := tx.LockAppDomains(ctx); err != nil {
				return err
			}
			if err := domainsFree(ctx, tx, a.ID, domains, bad); err != nil {
				return err
			}
		}
	}
	if len(bad) > 0 {
		return bad
	}
	a.Name, a.Title, a.Enabled = name, title, in.Enabled
	a.Access, a.Groups = in.Access, groups
	a.RedirectURIs, a.PostLogoutRedirectURIs = redirects, logouts
	a.Public = a.IsOIDC() && in.Public
	a.Domains = domains
	return nil
}

// validGroups checks the access rule and that every group named exists; the groups are kept only
// when access is "groups".
func (s *Apps) validGroups(ctx context.Context, tx *models.Store, in Input, bad Invalid) ([]string, error) {
	if in.Access != models.AccessEveryone && in.Access != models.AccessGroups {
		bad["access"] = Problem{Code: "access"}
		return nil, nil
	}
	var picked []string
	for _, g := range in.Groups {
		if g = strings.TrimSpace(g); g != "" && !slices.Contains(picked, g) {
			picked = append(picked, g)
		}
	}
	if in.Access == models.AccessEveryone {
		return []string{}, nil
	}
	if len(picked) == 0 {
		bad["groups"] = Problem{Code: "groups_required"}
		return nil, nil
	}
	if len(picked) > maxGroups {
		bad["groups"] = Problem{Code: "too_many"}
		return nil, nil
	}
	all, err := tx.Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range picked {
		if !slices.ContainsFunc(all, func(x models.Group) bool { return x.Name == g }) {
			bad["groups"] = Problem{Code: "group_unknown", Args: []string{"Group", g}}
			return nil, nil
		}
	}
	slices.Sort(picked)
	return picked, nil
}

// lines splits a textarea into its non-blank lines, trimmed, without repeats.
func lines(v string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// validURIs checks redirect URIs, one a line. They are matched byte for byte at the authorize and
// end-session endpoints, so they are kept exactly as typed (trimmed). An empty list is returned as
// [] when allowed, else the field is required.
func validURIs(v, field string, required bool, bad Invalid) []string {
	list := lines(v)
	if len(list) == 0 {
		if required {
			bad[field] = Problem{Code: "required"}
		}
		return []string{}
	}
	if len(list) > maxLines {
		bad[field] = Problem{Code: "too_many_lines", Args: []string{"Max", "50"}}
		return nil
	}
	for _, l := range list {
		if code := RedirectURIProblem(l); code != "" {
			bad[field] = Problem{Code: code, Args: []string{"Line", l}}
			return nil
		}
	}
	return list
}

// RedirectURIProblem tells what is wrong with a redirect URI, as a validation code, or "": it must be
// absolute, without fragment or credentials, and https, or http on a loopback host (localhost,
// 127.0.0.0/8, ::1) for development and native apps.
func RedirectURIProblem(v string) string {
	if len(v) > maxURI {
		return "uri_too_long"
	}
	if strings.ContainsAny(v, " \t\\") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "uri"
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "uri_absolute"
	case strings.Contains(v, "#"):
		return "uri_fragment"
	case u.User != nil:
		return "uri_userinfo"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && models.IsLoopbackHost(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return "uri_https"
	}
	return "uri_scheme"
}

// validDomains checks a proxy app's domains, one a line; they are kept lower-case. It returns nil
// when a line is bad.
func validDomains(v string, bad Invalid) []string {
	var list []string
	for _, l := range lines(v) {
		if l = strings.ToLower(l); !slices.Contains(list, l) {
			list = append(list, l)
		}
	}
	switch {
	case len(list) == 0:
		bad["domains"] = Problem{Code: "required"}
		return nil
	case len(list) > maxLines:
		bad["domains"] = Problem{Code: "too_many_lines", Args: []string{"Max", "50"}}
		return nil
	}
	for _, d := range list {
		if code := DomainProblem(d); code != "" {
			bad["domains"] = Problem{Code: code, Args: []string{"Line", d}}
			return nil
		}
	}
	return list
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// DomainProblem tells what is wrong with a proxy app's domain, as a validation code, or "": a
// lower-case DNS name such as grafana.corp.example, or *.suffix for every name under the suffix;
// no scheme, port or path.
func DomainProblem(d string) string {
	switch {
	case strings.Contains(d, "://"):
		return "domain_scheme"
	case strings.ContainsAny(d, "/?#"):
		return "domain_path"
	case strings.HasPrefix(d, "[") || strings.Count(d, ":") > 1:
		return "domain_ip" // an IPv6 address
	case strings.Contains(d, ":"):
		return "domain_port"
	case len(d) > maxDomain:
		return "domain"
	}
	host := d
	wildcard := strings.HasPrefix(d, "*.")
	if wildcard {
		host = d[2:]
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return "domain"
		}
	}
	top := labels[len(labels)-1]
	if strings.Trim(top, "0123456789") == "" {
		return "domain_ip" // a dotted IPv4 address, or a name whose last label is all digits
	}
	// *.example would cover a whole top-level domain; *.localhost is fine (every name under it is
	// this machine, handy for trying forward-auth on a laptop).
	if wildcard && len(labels) < 2 && host != "localhost" {
		return "domain_wildcard"
	}
	return ""
}

// Overlaps tells whether two domains (hosts or *.suffix patterns) can name the same host.
func Overlaps(a, b string) bool {
	as, aw := strings.CutPrefix(a, "*.")
	bs, bw := strings.CutPrefix(b, "*.")
	switch {
	case !aw && !bw:
		return a == b
	case aw && !bw:
		return strings.HasSuffix(b, "."+as)
	case !aw && bw:
		return strings.HasSuffix(a, "."+bs)
	}
	return as == bs || strings.HasSuffix(as, "."+bs) || strings.HasSuffix(bs, "."+as)
}

// domainsFree refuses a domain that overlaps one of another app's: a host belongs to one app only.
func domainsFree(ctx context.Context, tx *models.Store, self int64, domains []string, bad Invalid) error {
	others, err := tx.AppsOfType(ctx, models.AppTypeProxy)
	if err != nil {
		return err
	}
	for _, d := range domains {
		for _, o := range others {
			if o.ID == self {
				continue
			}
			for _, od := range o.Domains {
				if Overlaps(d, od) {
					bad["domains"] = Problem{Code: "domain_taken", Args: []string{"Line", d, "App", o.Name, "Other", od}}
					return nil
				}
			}
		}
	}
	return nil
}
