package models

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Group is a named set of users made by rules (DESIGN.md §11), one per line:
// dept:<authenticator>:<id>, tag:<authenticator>:<id> or user:<username>.
type Group struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:64;not null;uniqueIndex"`
	Title     string `gorm:"size:128;not null;default:''"`
	Rules     string `gorm:"type:text;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Groups lists every group by name.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	var list []Group
	err := s.q(ctx).Order("name").Find(&list).Error
	return list, notFound(err, "list groups")
}

// Group loads a group by id.
func (s *Store) Group(ctx context.Context, id int64) (Group, error) {
	var g Group
	err := s.q(ctx).First(&g, id).Error
	return g, notFound(err, fmt.Sprintf("group %d", id))
}

// CreateGroup inserts a group; a taken name is ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g *Group) error {
	return notFound(s.q(ctx).Create(g).Error, fmt.Sprintf("create group %q", g.Name))
}

// SaveGroup writes every field of an existing group.
func (s *Store) SaveGroup(ctx context.Context, g *Group) error {
	return notFound(s.q(ctx).Save(g).Error, fmt.Sprintf("save group %q", g.Name))
}

// DeleteGroup removes a group.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	return notFound(s.q(ctx).Delete(&Group{}, id).Error, fmt.Sprintf("delete group %d", id))
}

// Audit actions of group administration.
const (
	ActionGroupCreate = "group.create"
	ActionGroupUpdate = "group.update"
	ActionGroupDelete = "group.delete"
)

// GroupByName loads a group by its name.
func (s *Store) GroupByName(ctx context.Context, name string) (Group, error) {
	var g Group
	err := s.q(ctx).Where("name = ?", name).First(&g).Error
	return g, notFound(err, fmt.Sprintf("group %q", name))
}

// AppsNamingGroup lists the applications whose Groups name the group, by name.
func (s *Store) AppsNamingGroup(ctx context.Context, name string) ([]App, error) {
	return s.appsNamingGroup(ctx, s.q(ctx), name)
}

// appsNamingGroup narrows with LIKE on the JSON text (group names are slugs, free of LIKE's wildcards
// and of JSON escapes), then keeps the apps whose decoded list really holds the name.
func (s *Store) appsNamingGroup(ctx context.Context, q *gorm.DB, name string) ([]App, error) {
	var candidates []App
	if err := q.Where(`"groups" LIKE ?`, "%"+strconv.Quote(name)+"%").Order("name").Find(&candidates).Error; err != nil {
		return nil, fmt.Errorf("apps naming group %q: %w", name, err)
	}
	var out []App
	for _, a := range candidates {
		if slices.Contains(a.Groups, name) {
			out = append(out, a)
		}
	}
	return out, nil
}

// UpdateGroup saves a group and, when it was renamed from oldName, writes the new name into every
// application that named the old one, in one transaction. It returns the names of those applications.
func (s *Store) UpdateGroup(ctx context.Context, g *Group, oldName string) ([]string, error) {
	var changed []string
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.SaveGroup(ctx, g); err != nil {
			return err
		}
		if oldName == g.Name {
			return nil
		}
		var err error
		changed, err = tx.rewriteAppGroups(ctx, oldName, func(list []string) []string {
			return slices.Compact(slices.Sorted(slices.Values(replaceAll(list, oldName, g.Name))))
		})
		return err
	})
	return changed, err
}

// DeleteGroupEverywhere removes a group and its name from every application that named it, in one
// transaction. It returns the group as it was and the names of those applications.
func (s *Store) DeleteGroupEverywhere(ctx context.Context, id int64) (Group, []string, error) {
	var g Group
	var changed []string
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		if g, err = tx.Group(ctx, id); err != nil {
			return err
		}
		changed, err = tx.rewriteAppGroups(ctx, g.Name, func(list []string) []string {
			return slices.DeleteFunc(list, func(n string) bool { return n == g.Name })
		})
		if err != nil {
			return err
		}
		return tx.DeleteGroup(ctx, id)
	})
	return g, changed, err
}

// rewriteAppGroups applies edit to the Groups of every application naming name, rows locked, and
// returns their names. Call it inside a transaction.
func (s *Store) rewriteAppGroups(ctx context.Context, name string, edit func([]string) []string) ([]string, error) {
	apps, err := s.appsNamingGroup(ctx, s.forUpdate(ctx), name)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range apps {
		a.Groups = edit(a.Groups)
		if err := s.SaveApp(ctx, &a); err != nil {
			return nil, err
		}
		names = append(names, a.Name)
	}
	return names, nil
}

func replaceAll(list []string, from, to string) []string {
	out := make([]string, len(list))
	for i, n := range list {
		if n == from {
			n = to
		}
		out[i] = n
	}
	return out
}

// DirectoryRef is a department or tag of one authenticator's corp: ids are only unique per corp.
type DirectoryRef struct {
	AuthenticatorID, ID int64
}

// GroupMatch is a group's rules with authenticator names resolved to ids, for GroupMembers.
type GroupMatch struct {
	// Depts match members whose Ancestry holds the department (it or one of its ancestors).
	Depts []DirectoryRef
	Tags  []DirectoryRef
	// Usernames are normalised usernames.
	Usernames []string
}

// Empty tells whether the match can match nobody.
func (m GroupMatch) Empty() bool {
	return len(m.Depts) == 0 && len(m.Tags) == 0 && len(m.Usernames) == 0
}

// jsonListHas is a condition true when the JSON id list in col (written by the json serializer as
// "[1,2,3]", no spaces) holds the id bound to the LIKE argument made by jsonListPattern. It reads the
// same on SQLite and PostgreSQL.
func jsonListHas(col string) string {
	return "(',' || REPLACE(REPLACE(" + col + ", '[', ''), ']', '') || ',') LIKE ?"
}

func jsonListPattern(id int64) string { return "%," + strconv.FormatInt(id, 10) + ",%" }

// groupMembersQuery selects the users a GroupMatch matches, in one statement: members of the listed
// departments or tags whose binding is not suspended, and the listed usernames. Disabled users are
// included (their groups still compute; the applications refuse them).
func (s *Store) groupMembersQuery(ctx context.Context, m GroupMatch) *gorm.DB {
	var conds []string
	var args []any
	for _, d := range m.Depts {
		conds = append(conds, "(authenticator_id = ? AND "+jsonListHas("ancestry")+")")
		args = append(args, d.AuthenticatorID, jsonListPattern(d.ID))
	}
	for _, t := range m.Tags {
		conds = append(conds, "(authenticator_id = ? AND "+jsonListHas("tags")+")")
		args = append(args, t.AuthenticatorID, jsonListPattern(t.ID))
	}
	q := s.q(ctx).Model(&User{})
	switch {
	case len(conds) > 0 && len(m.Usernames) > 0:
		q = q.Where("id IN (?) OR username IN ?", s.matchingMembers(ctx, conds, args), m.Usernames)
	case len(conds) > 0:
		q = q.Where("id IN (?)", s.matchingMembers(ctx, conds, args))
	default:
		q = q.Where("username IN ?", m.Usernames)
	}
	return q
}

// matchingMembers selects the user ids of the directory members meeting one of conds whose binding
// still exists (what WeCom said about a member outlives an unbinding until the row is cleaned up)
// and is not suspended.
func (s *Store) matchingMembers(ctx context.Context, conds []string, args []any) *gorm.DB {
	return s.q(ctx).Model(&DirectoryMember{}).Select("user_id").
		Where("suspended_at IS NULL").
		Where("EXISTS (SELECT 1 FROM user_authenticators b WHERE b.id = directory_members.binding_id AND b.user_id = directory_members.user_id)").
		Where(strings.Join(conds, " OR "), args...)
}

// BoundDirectoryMembers is UserDirectoryMembers without the rows of bindings that no longer exist:
// what group rules match on.
func (s *Store) BoundDirectoryMembers(ctx context.Context, userID int64) ([]DirectoryMember, error) {
	var list []DirectoryMember
	err := s.q(ctx).Where("user_id = ?", userID).
		Where("EXISTS (SELECT 1 FROM user_authenticators b WHERE b.id = directory_members.binding_id AND b.user_id = directory_members.user_id)").
		Order("binding_id").Find(&list).Error
	return list, notFound(err, fmt.Sprintf("bound directory members of user %d", userID))
}

// GroupMembers returns one page of the users a group's rules match, by username, and how many there
// are in all.
func (s *Store) GroupMembers(ctx context.Context, m GroupMatch, offset, limit int) ([]User, int64, error) {
	if m.Empty() {
		return nil, 0, nil
	}
	var total int64
	if err := s.groupMembersQuery(ctx, m).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count group members: %w", err)
	}
	var users []User
	err := s.groupMembersQuery(ctx, m).Order("username").Offset(offset).Limit(limit).Find(&users).Error
	return users, total, notFound(err, "list group members")
}

// CountGroupMembers counts the users a group's rules match.
func (s *Store) CountGroupMembers(ctx context.Context, m GroupMatch) (int64, error) {
	if m.Empty() {
		return 0, nil
	}
	var total int64
	err := s.groupMembersQuery(ctx, m).Count(&total).Error
	return total, notFound(err, "count group members")
}

// KnownDirectoryIDs returns which of ids are departments (kind "dept") or tags (kind "tag") Gatehouse
// knows for the authenticator.
func (s *Store) KnownDirectoryIDs(ctx context.Context, kind string, authenticatorID int64, ids []int64) (map[int64]bool, error) {
	known := map[int64]bool{}
	if len(ids) == 0 {
		return known, nil
	}
	var found []int64
	q := s.q(ctx).Where("authenticator_id = ?", authenticatorID)
	var err error
	switch kind {
	case "dept":
		err = q.Model(&DirectoryDepartment{}).Where("dept_id IN ?", ids).Pluck("dept_id", &found).Error
	case "tag":
		err = q.Model(&DirectoryTag{}).Where("tag_id IN ?", ids).Pluck("tag_id", &found).Error
	default:
		return nil, fmt.Errorf("known directory ids: unknown kind %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("known %s ids of authenticator %d: %w", kind, authenticatorID, err)
	}
	for _, id := range found {
		known[id] = true
	}
	return known, nil
}

// ExistingUsernames returns which of the (normalised) usernames belong to a user.
func (s *Store) ExistingUsernames(ctx context.Context, names []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(names) == 0 {
		return known, nil
	}
	var found []string
	if err := s.q(ctx).Model(&User{}).Where("username IN ?", names).Pluck("username", &found).Error; err != nil {
		return nil, fmt.Errorf("existing usernames: %w", err)
	}
	for _, n := range found {
		known[n] = true
	}
	return known, nil
}

// AllDirectoryDepartments lists the departments Gatehouse knows, of every authenticator.
func (s *Store) AllDirectoryDepartments(ctx context.Context) ([]DirectoryDepartment, error) {
	var list []DirectoryDepartment
	err := s.q(ctx).Order("authenticator_id, dept_id").Find(&list).Error
	return list, notFound(err, "list directory departments")
}

// AllDirectoryTags lists the tags Gatehouse knows, of every authenticator.
func (s *Store) AllDirectoryTags(ctx context.Context) ([]DirectoryTag, error) {
	var list []DirectoryTag
	err := s.q(ctx).Order("authenticator_id, name, tag_id").Find(&list).Error
	return list, notFound(err, "list directory tags")
}

// UpsertDirectoryDepartment inserts or replaces one department (tests and seeding; the directory
// refresh writes its own).
func (s *Store) UpsertDirectoryDepartment(ctx context.Context, d *DirectoryDepartment) error {
	return notFound(s.q(ctx).Save(d).Error, fmt.Sprintf("save department %d of authenticator %d", d.DeptID, d.AuthenticatorID))
}

// UpsertDirectoryTag inserts or replaces one tag.
func (s *Store) UpsertDirectoryTag(ctx context.Context, t *DirectoryTag) error {
	return notFound(s.q(ctx).Save(t).Error, fmt.Sprintf("save tag %d of authenticator %d", t.TagID, t.AuthenticatorID))
}

// RenameAuthenticatorInGroups rewrites the dept: and tag: rules naming an authenticator when it is
// renamed, so that groups keep meaning the same corp. Call it in the rename's transaction. It returns
// the names of the groups changed.
func (s *Store) RenameAuthenticatorInGroups(ctx context.Context, oldName, newName string) ([]string, error) {
	return s.editGroupRules(ctx, oldName, func(kind, id string) string { return kind + ":" + newName + ":" + id })
}

// DropAuthenticatorFromGroups removes the dept: and tag: rules naming an authenticator that is being
// deleted: department and tag ids mean something only in its corp, and a later authenticator of the
// same name (another corp, perhaps) must not inherit them. Call it in the delete's transaction.
func (s *Store) DropAuthenticatorFromGroups(ctx context.Context, name string) ([]string, error) {
	return s.editGroupRules(ctx, name, func(string, string) string { return "" })
}

// editGroupRules replaces every rule line "<dept|tag>:<name>:<id>" of every group by edit(kind, id)
// (nothing when edit returns ""), rows locked, and saves the groups that changed.
func (s *Store) editGroupRules(ctx context.Context, name string, edit func(kind, id string) string) ([]string, error) {
	var groups []Group
	err := s.forUpdate(ctx).Where(`rules LIKE ? ESCAPE '\' OR rules LIKE ? ESCAPE '\'`, "%dept:"+escapeLike(name)+":%", "%tag:"+escapeLike(name)+":%").Order("name").Find(&groups).Error
	if err != nil {
		return nil, fmt.Errorf("groups naming authenticator %q: %w", name, err)
	}
	var changed []string
	for _, g := range groups {
		var b strings.Builder
		touched := false
		for line := range strings.Lines(g.Rules) {
			l := strings.TrimSpace(line)
			kind, rest, _ := strings.Cut(l, ":")
			auth, id, ok := strings.Cut(rest, ":")
			if (kind == "dept" || kind == "tag") && ok && strings.TrimSpace(auth) == name {
				touched = true
				if l = edit(kind, strings.TrimSpace(id)); l == "" {
					continue
				}
			}
			if l != "" {
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}
		if !touched {
			continue
		}
		g.Rules = b.String()
		if err := s.SaveGroup(ctx, &g); err != nil {
			return nil, err
		}
		changed = append(changed, g.Name)
	}
	return changed, nil
}
