package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gatehouse/models"
)

// Problems a group's rules can have, one per line (message ids groups.rule_<code>).
const (
	ProblemShape         = "shape"
	ProblemAuthenticator = "unknown_authenticator"
	ProblemNotWeCom      = "not_wecom"
	ProblemDepartment    = "unknown_department"
	ProblemTag           = "unknown_tag"
	ProblemUser          = "unknown_user"
	ProblemDuplicate     = "duplicate"
	ProblemTooMany       = "too_many"
)

// MaxRules bounds the rules of one group: each is a condition of the member query.
const MaxRules = 500

// RuleProblem is what is wrong with one line of a group's rules. Line counts from 1 over every line
// of the text as typed, blank ones included, so it matches what the admin sees.
type RuleProblem struct {
	Line int
	Rule string // the line, trimmed
	Code string
	// Other is the earlier line a duplicate repeats.
	Other int
}

// GroupInput is the group form as typed.
type GroupInput struct {
	Name, Title, Rules string
}

// InvalidGroup is a refused group form: a problem code per field (name, title) and the rules' lines.
type InvalidGroup struct {
	Fields map[string]string
	Rules  []RuleProblem
}

func (e InvalidGroup) Error() string {
	return fmt.Sprintf("invalid group: %d field and %d rule problems", len(e.Fields), len(e.Rules))
}

// namePattern is a group's name: it is what applications list and what the groups claim carries.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// CheckRules reads a group's rules as typed and tells what is wrong with each line: its shape, an
// authenticator that does not exist or is not a WeCom one, a department or tag Gatehouse has not seen
// for that authenticator, an unknown username, a line that repeats an earlier one. It returns the
// rules (in order, once each) and the problems.
func CheckRules(ctx context.Context, st *models.Store, text string) ([]Rule, []RuleProblem, error) {
	type lineRule struct {
		line int
		rule Rule
	}
	var parsed []lineRule
	var problems []RuleProblem
	seen := map[string]int{}
	n := 0
	for raw := range strings.Lines(text) {
		n++
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		r, err := ParseRule(line)
		if err != nil {
			problems = append(problems, RuleProblem{Line: n, Rule: line, Code: ProblemShape})
			continue
		}
		if first, dup := seen[r.String()]; dup {
			problems = append(problems, RuleProblem{Line: n, Rule: line, Code: ProblemDuplicate, Other: first})
			continue
		}
		seen[r.String()] = n
		parsed = append(parsed, lineRule{n, r})
	}
	if len(parsed) > MaxRules {
		problems = append(problems, RuleProblem{Line: parsed[MaxRules].line, Rule: parsed[MaxRules].rule.String(), Code: ProblemTooMany})
		parsed = parsed[:MaxRules]
	}

	auths, err := st.Authenticators(ctx)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]models.Authenticator{}
	for _, a := range auths {
		byName[a.Name] = a
	}
	// Which ids to look up, per kind and authenticator, and which usernames: one query each.
	want := map[string]map[int64][]int64{RuleDept: {}, RuleTag: {}}
	var usernames []string
	for _, p := range parsed {
		if p.rule.Kind == RuleUser {
			usernames = append(usernames, p.rule.Username)
		} else if a, ok := byName[p.rule.Authenticator]; ok && a.IsWeCom() {
			want[p.rule.Kind][a.ID] = append(want[p.rule.Kind][a.ID], p.rule.ID)
		}
	}
	known := map[string]map[int64]map[int64]bool{RuleDept: {}, RuleTag: {}}
	for kind, perAuth := range want {
		for authID, ids := range perAuth {
			if known[kind][authID], err = st.KnownDirectoryIDs(ctx, kind, authID, ids); err != nil {
				return nil, nil, err
			}
		}
	}
	users, err := st.ExistingUsernames(ctx, usernames)
	if err != nil {
		return nil, nil, err
	}

	rules := make([]Rule, 0, len(parsed))
	for _, p := range parsed {
		code := ""
		switch r := p.rule; r.Kind {
		case RuleUser:
			if !users[r.Username] {
				code = ProblemUser
			}
		default:
			a, ok := byName[r.Authenticator]
			switch {
			case !ok:
				code = ProblemAuthenticator
			case !a.IsWeCom():
				code = ProblemNotWeCom
			case !known[r.Kind][a.ID][r.ID]:
				code = map[string]string{RuleDept: ProblemDepartment, RuleTag: ProblemTag}[r.Kind]
			}
		}
		if code != "" {
			problems = append(problems, RuleProblem{Line: p.line, Rule: p.rule.String(), Code: code})
		}
		rules = append(rules, p.rule)
	}
	slices.SortStableFunc(problems, func(a, b RuleProblem) int { return cmp.Compare(a.Line, b.Line) })
	return rules, problems, nil
}

// FormatRules writes rules one per line, as they are stored.
func FormatRules(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// validateGroup checks the form; current is the group being edited (zero when creating).
func validateGroup(ctx context.Context, st *models.Store, in GroupInput, current models.Group) (models.Group, error) {
	bad := InvalidGroup{Fields: map[string]string{}}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		bad.Fields["name"] = "required"
	case !namePattern.MatchString(name):
		bad.Fields["name"] = "group_slug"
	case name != current.Name:
		if _, err := st.GroupByName(ctx, name); err == nil {
			bad.Fields["name"] = "name_taken"
		} else if !errors.Is(err, models.ErrNotFound) {
			return models.Group{}, err
		}
	}
	title := strings.TrimSpace(in.Title)
	switch {
	case title == "":
		bad.Fields["title"] = "required"
	case len(title) > 128:
		bad.Fields["title"] = "too_long"
	}
	rules, problems, err := CheckRules(ctx, st, in.Rules)
	if err != nil {
		return models.Group{}, err
	}
	bad.Rules = problems
	if len(bad.Fields) > 0 || len(bad.Rules) > 0 {
		return models.Group{}, bad
	}
	g := current
	g.Name, g.Title, g.Rules = name, title, FormatRules(rules)
	return g, nil
}

// CreateGroup validates the form and inserts the group.
func CreateGroup(ctx context.Context, st *models.Store, in GroupInput) (models.Group, error) {
	g, err := validateGroup(ctx, st, in, models.Group{})
	if err != nil {
		return g, err
	}
	if err := st.CreateGroup(ctx, &g); err != nil {
		if errors.Is(err, models.ErrConflict) { // another admin took the name meanwhile
			return g, InvalidGroup{Fields: map[string]string{"name": "name_taken"}}
		}
		return g, err
	}
	return g, nil
}

// GroupChange is what a saved edit did.
type GroupChange struct {
	Group   models.Group
	OldName string
	// Apps are the applications whose group lists were rewritten by a rename.
	Apps []string
}

// UpdateGroup validates the form and saves the group; a rename is written into every application
// that named the group, in the same transaction.
func UpdateGroup(ctx context.Context, st *models.Store, id int64, in GroupInput) (GroupChange, error) {
	current, err := st.Group(ctx, id)
	if err != nil {
		return GroupChange{}, err
	}
	g, err := validateGroup(ctx, st, in, current)
	if err != nil {
		return GroupChange{Group: current}, err
	}
	apps, err := st.UpdateGroup(ctx, &g, current.Name)
	if errors.Is(err, models.ErrConflict) {
		return GroupChange{Group: current}, InvalidGroup{Fields: map[string]string{"name": "name_taken"}}
	}
	return GroupChange{Group: g, OldName: current.Name, Apps: apps}, err
}

// Match resolves a group's rules to authenticator ids for the set-based member query. Rules naming
// an authenticator that no longer exists, or a group whose rules no longer parse, match nobody.
func Match(ctx context.Context, st *models.Store, g models.Group) (models.GroupMatch, error) {
	rules, err := ParseRules(g.Rules)
	if err != nil {
		return models.GroupMatch{}, nil
	}
	return matchRules(ctx, st, rules)
}

func matchRules(ctx context.Context, st *models.Store, rules []Rule) (models.GroupMatch, error) {
	var m models.GroupMatch
	if len(rules) == 0 {
		return m, nil
	}
	names, err := authenticatorNames(ctx, st)
	if err != nil {
		return m, err
	}
	ids := make(map[string]int64, len(names))
	for id, n := range names {
		ids[n] = id
	}
	for _, r := range rules {
		switch r.Kind {
		case RuleUser:
			m.Usernames = append(m.Usernames, r.Username)
		case RuleDept, RuleTag:
			authID, ok := ids[r.Authenticator]
			if !ok {
				continue
			}
			ref := models.DirectoryRef{AuthenticatorID: authID, ID: r.ID}
			if r.Kind == RuleDept {
				m.Depts = append(m.Depts, ref)
			} else {
				m.Tags = append(m.Tags, ref)
			}
		}
	}
	return m, nil
}

// GroupMembers returns one page of a group's members, by username, and how many there are: the users
// its rules match given what WeCom said last (suspended members match nothing), found in one query.
func GroupMembers(ctx context.Context, st *models.Store, g models.Group, offset, limit int) ([]models.User, int64, error) {
	m, err := Match(ctx, st, g)
	if err != nil {
		return nil, 0, err
	}
	return st.GroupMembers(ctx, m, offset, limit)
}

// GroupSummary is a group with its number of rules and of members, for the listing.
type GroupSummary struct {
	models.Group
	Rules, Members int64
}

// GroupSummaries lists every group with its counts.
func GroupSummaries(ctx context.Context, st *models.Store) ([]GroupSummary, error) {
	groups, err := st.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GroupSummary, 0, len(groups))
	for _, g := range groups {
		rules, err := ParseRules(g.Rules)
		if err != nil {
			rules = nil
		}
		m, err := matchRules(ctx, st, rules)
		if err != nil {
			return nil, err
		}
		n, err := st.CountGroupMembers(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, GroupSummary{Group: g, Rules: int64(len(rules)), Members: n})
	}
	return out, nil
}

// PickerEntry is one department or tag the group form offers, with the rule line it adds.
type PickerEntry struct {
	ID   int64
	Name string
	// Path is the department's name after its ancestors', such as "总部 / 研发部 / 后端组".
	Path string
	Rule string
}

// Picker is what one WeCom authenticator's corp offers to the group form.
type Picker struct {
	Authenticator models.Authenticator
	Departments   []PickerEntry
	Tags          []PickerEntry
}

// Pickers lists, per WeCom authenticator, the departments (with their paths) and tags Gatehouse knows.
func Pickers(ctx context.Context, st *models.Store) ([]Picker, error) {
	auths, err := st.Authenticators(ctx)
	if err != nil {
		return nil, err
	}
	depts, err := st.AllDirectoryDepartments(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := st.AllDirectoryTags(ctx)
	if err != nil {
		return nil, err
	}
	var out []Picker
	for _, a := range auths {
		if !a.IsWeCom() {
			continue
		}
		p := Picker{Authenticator: a}
		byID := map[int64]models.DirectoryDepartment{}
		for _, d := range depts {
			if d.AuthenticatorID == a.ID {
				byID[d.DeptID] = d
			}
		}
		for _, d := range depts {
			if d.AuthenticatorID == a.ID {
				p.Departments = append(p.Departments, PickerEntry{ID: d.DeptID, Name: d.Name, Path: DepartmentPath(byID, d.DeptID),
					Rule: Rule{Kind: RuleDept, Authenticator: a.Name, ID: d.DeptID}.String()})
			}
		}
		slices.SortFunc(p.Departments, func(x, y PickerEntry) int { return cmp.Or(strings.Compare(x.Path, y.Path), cmp.Compare(x.ID, y.ID)) })
		for _, t := range tags {
			if t.AuthenticatorID == a.ID {
				p.Tags = append(p.Tags, PickerEntry{ID: t.TagID, Name: t.Name, Path: t.Name,
					Rule: Rule{Kind: RuleTag, Authenticator: a.Name, ID: t.TagID}.String()})
			}
		}
		if len(p.Departments) > 0 || len(p.Tags) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// DepartmentPath names a known department after its ancestors, root first, joined by " / " (the
// pickers' label); an unknown id has no path.
func DepartmentPath(byID map[int64]models.DirectoryDepartment, id int64) string {
	if _, ok := byID[id]; !ok {
		return ""
	}
	names, _ := DepartmentNames(byID, id)
	return strings.Join(names, " / ")
}

// DepartmentNames lists the names of a department and its ancestors, root first, as far as the known
// departments reach. A department without a name (or not known) shows its id. cut tells that the walk
// stopped at a parent outside the app's visible range (so the path does not start at the root); a
// loop in the parents stops the walk too.
func DepartmentNames(known map[int64]models.DirectoryDepartment, id int64) (names []string, cut bool) {
	seen := map[int64]bool{}
	for cur := id; ; {
		d, ok := known[cur]
		name := d.Name
		if !ok || name == "" {
			name = "#" + strconv.FormatInt(cur, 10)
		}
		names = append(names, name)
		seen[cur] = true
		if !ok || d.ParentID == 0 || cur == 1 || seen[d.ParentID] {
			break
		}
		if _, visible := known[d.ParentID]; !visible {
			cut = true
			break
		}
		cur = d.ParentID
	}
	slices.Reverse(names)
	return names, cut
}
