// Package directory holds what WeCom says about members (departments, tags, status), the groups made
// from it, the sweep that finds leavers, and the event callback's signature check and decryption
// (DESIGN.md §11).
package directory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gatehouse/models"
)

// Rule kinds of a group's rules.
const (
	RuleDept = "dept"
	RuleTag  = "tag"
	RuleUser = "user"
)

// Rule is one line of a group's rules: dept:<authenticator>:<id>, tag:<authenticator>:<id> or
// user:<username>.
type Rule struct {
	Kind          string
	Authenticator string // dept and tag
	ID            int64  // dept and tag
	Username      string // user
}

// String formats the rule as it is written in a group's rules.
func (r Rule) String() string {
	if r.Kind == RuleUser {
		return RuleUser + ":" + r.Username
	}
	return r.Kind + ":" + r.Authenticator + ":" + strconv.FormatInt(r.ID, 10)
}

// ParseRule reads one line of rules. It checks the shape only; whether the authenticator, department,
// tag or user exists is the form's check (CheckRules). Usernames are normalised as users' are.
func ParseRule(line string) (Rule, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: want dept:<authenticator>:<id>, tag:<authenticator>:<id> or user:<username>", line)
	}
	switch kind {
	case RuleUser:
		name := models.NormalizeUsername(rest)
		if name == "" || strings.ContainsAny(name, " \t:") {
			return Rule{}, fmt.Errorf("rule %q: want user:<username>", line)
		}
		return Rule{Kind: RuleUser, Username: name}, nil
	case RuleDept, RuleTag:
		name, id, ok := strings.Cut(rest, ":")
		name, id = strings.TrimSpace(name), strings.TrimSpace(id)
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || name == "" || strings.ContainsAny(name, " \t:") || err != nil || n <= 0 {
			return Rule{}, fmt.Errorf("rule %q: want %s:<authenticator>:<id>", line, kind)
		}
		return Rule{Kind: kind, Authenticator: name, ID: n}, nil
	}
	return Rule{}, fmt.Errorf("rule %q: unknown kind %q", line, kind)
}

// ParseRules reads a group's rules, one per line; blank lines are skipped.
func ParseRules(text string) ([]Rule, error) {
	var rules []Rule
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := ParseRule(line)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// Matches tells whether a rule matches a user, given what WeCom said last about the user's bound
// members (suspended ones match nothing) and the names of their authenticators.
func (r Rule) Matches(u models.User, members []models.DirectoryMember, authName map[int64]string) bool {
	if r.Kind == RuleUser {
		return r.Username == u.Username
	}
	for _, m := range members {
		if m.SuspendedAt != nil || authName[m.AuthenticatorID] != r.Authenticator {
			continue
		}
		if r.Kind == RuleDept && slices.Contains(m.Ancestry, r.ID) || r.Kind == RuleTag && slices.Contains(m.Tags, r.ID) {
			return true
		}
	}
	return false
}

// UserGroups returns the names of the groups whose rules match the user, sorted. A group whose rules
// no longer parse matches nobody.
func UserGroups(ctx context.Context, st *models.Store, u models.User) ([]string, error) {
	groups, err := UserGroupList(ctx, st, u)
	if err != nil || len(groups) == 0 {
		return nil, err
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return names, nil
}

// UserGroupList returns the groups whose rules match the user, by name.
func UserGroupList(ctx context.Context, st *models.Store, u models.User) ([]models.Group, error) {
	groups, err := st.Groups(ctx)
	if err != nil || len(groups) == 0 {
		return nil, err
	}
	members, err := st.BoundDirectoryMembers(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	authName, err := authenticatorNames(ctx, st)
	if err != nil {
		return nil, err
	}
	var out []models.Group
	for _, g := range groups {
		rules, err := ParseRules(g.Rules)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(rules, func(r Rule) bool { return r.Matches(u, members, authName) }) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b models.Group) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func authenticatorNames(ctx context.Context, st *models.Store) (map[int64]string, error) {
	auths, err := st.Authenticators(ctx)
	if err != nil {
		return nil, err
	}
	authName := make(map[int64]string, len(auths))
	for _, a := range auths {
		authName[a.ID] = a.Name
	}
	return authName, nil
}
