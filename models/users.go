package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ErrInvalidMobile is returned by NormalizeMobile for input that is not a phone number.
var ErrInvalidMobile = errors.New("invalid mobile number")

// NormalizeMobile turns a phone number into digits with country code and a leading "+":
// "138 0000 0001" and "+86-138-0000-0001" both become "+8613800000001". An 11-digit number starting with
// 1 is taken as mainland China (+86), as WeCom returns them; other numbers need their country code.
func NormalizeMobile(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	international := false
	switch {
	case strings.HasPrefix(s, "+"):
		international, s = true, s[1:]
	case strings.HasPrefix(s, "00"):
		international, s = true, s[2:]
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", ErrInvalidMobile
		}
	}
	d := b.String()
	switch {
	case international && len(d) >= 7 && len(d) <= 15 && d[0] != '0':
		return "+" + d, nil
	case !international && len(d) == 11 && d[0] == '1':
		return "+86" + d, nil
	case !international && len(d) == 13 && strings.HasPrefix(d, "861"):
		return "+" + d, nil
	}
	return "", ErrInvalidMobile
}

// ValidUsername tells whether s is 1-64 letters, digits, '.', '_', '-' or '@'.
func ValidUsername(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// NormalizeUsername lower-cases and trims a username; usernames compare case-insensitively.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser inserts u; a taken username or mobile is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.Username = NormalizeUsername(u.Username)
	return notFound(s.q(ctx).Create(u).Error, fmt.Sprintf("create user %q", u.Username))
}

// SaveUser writes every field of u.
func (s *Store) SaveUser(ctx context.Context, u *User) error {
	return notFound(s.q(ctx).Save(u).Error, fmt.Sprintf("save user %d", u.ID))
}

// UserByID loads one user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.q(ctx).First(&u, id).Error
	return u, notFound(err, fmt.Sprintf("user %d", id))
}

// UserByUsername loads one user by username, case-insensitively.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	var u User
	err := s.q(ctx).Where("username = ?", NormalizeUsername(username)).First(&u).Error
	return u, notFound(err, fmt.Sprintf("user %q", username))
}

// UserByMobile loads the user with this normalised mobile number.
func (s *Store) UserByMobile(ctx context.Context, mobile string) (User, error) {
	var u User
	err := s.q(ctx).Where("mobile = ?", mobile).First(&u).Error
	return u, notFound(err, "user by mobile "+RedactMobile(mobile))
}

// RedactMobile keeps a mobile number recognisable in logs without spelling it out.
func RedactMobile(m string) string {
	if len(m) < 9 {
		return "***"
	}
	return m[:len(m)-8] + "****" + m[len(m)-4:]
}

// UsernameTaken tells whether another user (not exceptID) has this username.
func (s *Store) UsernameTaken(ctx context.Context, username string, exceptID int64) (bool, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Where("username = ? AND id <> ?", NormalizeUsername(username), exceptID).Count(&n).Error
	return n > 0, notFound(err, "check username")
}

// MobileTaken tells whether another user (not exceptID) has this normalised mobile.
func (s *Store) MobileTaken(ctx context.Context, mobile string, exceptID int64) (bool, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Where("mobile = ? AND id <> ?", mobile, exceptID).Count(&n).Error
	return n > 0, notFound(err, "check mobile")
}

// UserPage is one page of a user listing.
type UserPage struct {
	Users []User
	// Total is the number of matches, or a lower bound of it when More is set.
	Total int64
	More  bool
}

// exactUserCount is how far a user listing counts its matches exactly.
const exactUserCount = 10000

// UserFilter narrows a user listing. Empty fields do not filter.
type UserFilter struct {
	Query string
	// Bound is "yes" or "no": has (or has not) a WeCom binding, at AuthenticatorID when set, else at any.
	Bound           string
	AuthenticatorID int64
	// Disabled is "yes" or "no".
	Disabled string
}

// ListUsers returns users whose username, nickname, email or mobile contains query, newest first.
func (s *Store) ListUsers(ctx context.Context, query string, offset, limit int) (UserPage, error) {
	return s.FilterUsers(ctx, UserFilter{Query: query}, offset, limit)
}

// FilterUsers returns one page of the users the filter keeps, newest first. The order is the primary
// key and the binding test an EXISTS on the bindings' (authenticator_id, user_id) and user_id indexes,
// so a page costs an index walk even at 100,000 users.
func (s *Store) FilterUsers(ctx context.Context, f UserFilter, offset, limit int) (UserPage, error) {
	var p UserPage
	// Counting every match of a filter costs a walk over every user; past exactUserCount the page says
	// "more than" instead, and counting stops there (or at the page asked for, so Next still works).
	upTo := max(exactUserCount, offset+limit)
	sub := s.filteredUsers(ctx, f).Select("users.id").Limit(upTo + 1)
	if err := s.q(ctx).Table("(?) AS matches", sub).Count(&p.Total).Error; err != nil {
		return p, fmt.Errorf("count users: %w", err)
	}
	if p.Total > int64(upTo) {
		p.Total, p.More = int64(upTo), true
	}
	err := s.filteredUsers(ctx, f).Order("id DESC").Offset(offset).Limit(limit).Find(&p.Users).Error
	return p, notFound(err, "list users")
}

func (s *Store) filteredUsers(ctx context.Context, f UserFilter) *gorm.DB {
	q := s.q(ctx).Model(&User{})
	if query := strings.TrimSpace(CleanText(f.Query)); query != "" {
		like := "%" + escapeLike(strings.ToLower(query)) + "%"
		q = q.Where("(LOWER(username) LIKE ? ESCAPE '\\' OR LOWER(nickname) LIKE ? ESCAPE '\\' OR LOWER(email) LIKE ? ESCAPE '\\' OR mobile LIKE ? ESCAPE '\\')", like, like, like, like)
	}
	// The WeCom authenticators are a handful: naming their ids lets the database probe the bindings'
	// indexes for each user instead of joining authenticators for each binding.
	ids := []int64{f.AuthenticatorID}
	if f.AuthenticatorID <= 0 && f.Bound != "" {
		var err error
		if ids, err = s.wecomAuthenticatorIDs(ctx); err != nil {
			_ = q.AddError(err) // the listing fails with it
		}
	}
	exists := "EXISTS (SELECT 1 FROM user_authenticators b WHERE b.user_id = users.id AND b.authenticator_id IN ?)"
	args := []any{ids}
	switch f.Bound {
	case "yes":
		q = q.Where(exists, args...)
	case "no":
		q = q.Where("NOT "+exists, args...)
	}
	switch f.Disabled {
	case "yes":
		q = q.Where("disabled")
	case "no":
		q = q.Where("NOT disabled")
	}
	return q
}

// wecomAuthenticatorIDs lists the WeCom authenticators' ids, and 0 so that the list is never empty
// (an empty IN list is not valid SQL everywhere; no binding has authenticator 0).
func (s *Store) wecomAuthenticatorIDs(ctx context.Context) ([]int64, error) {
	ids := []int64{0}
	all, err := s.Authenticators(ctx)
	for _, a := range all {
		if a.IsWeCom() {
			ids = append(ids, a.ID)
		}
	}
	return ids, err
}

// UserExportRow is a user with its WeCom bindings, for the CSV export.
type UserExportRow struct {
	User
	// Bindings are "authenticator:userid", in binding order.
	Bindings []string
}

// EachFilteredUser calls fn for every user the filter keeps, newest first, reading them in keyset
// batches (id below the last one seen) so an export of 100,000 users holds one batch in memory.
func (s *Store) EachFilteredUser(ctx context.Context, f UserFilter, fn func(UserExportRow) error) error {
	const batch = 1000
	after := int64(-1)
	for {
		var users []User
		q := s.filteredUsers(ctx, f)
		if after >= 0 {
			q = q.Where("id < ?", after)
		}
		if err := q.Order("id DESC").Limit(batch).Find(&users).Error; err != nil {
			return notFound(err, "export users")
		}
		if len(users) == 0 {
			return nil
		}
		ids := make([]int64, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		var bs []struct {
			UserID  int64
			Name    string
			Subject string
		}
		err := s.q(ctx).Table("user_authenticators AS b").Select("b.user_id, a.name, b.subject").
			Joins("JOIN authenticators AS a ON a.id = b.authenticator_id").
			Where("b.user_id IN ?", ids).Order("b.id").Scan(&bs).Error
		if err != nil {
			return notFound(err, "export bindings")
		}
		byUser := map[int64][]string{}
		for _, b := range bs {
			byUser[b.UserID] = append(byUser[b.UserID], b.Name+":"+b.Subject)
		}
		for _, u := range users {
			if err := fn(UserExportRow{User: u, Bindings: byUser[u.ID]}); err != nil {
				return err
			}
		}
		after = users[len(users)-1].ID
	}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CountUsers counts every user.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Count(&n).Error
	return n, notFound(err, "count users")
}

// CountActiveAdmins counts admins who are not disabled, not counting exceptID.
func (s *Store) CountActiveAdmins(ctx context.Context, exceptID int64) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Where("is_admin AND NOT disabled AND id <> ?", exceptID).Count(&n).Error
	return n, notFound(err, "count admins")
}

// LockActiveAdmins, inside a transaction, locks the rows of the active admins until it ends, so that
// two transactions that each count the other admins (to keep the last one) run one after the other:
// the second counts what the first committed. On SQLite every write transaction is already
// exclusive (immediate), so there is nothing to lock.
func (s *Store) LockActiveAdmins(ctx context.Context) error {
	var ids []int64
	// FOR UPDATE cannot go with COUNT; ordering the rows makes every locker take them in one order.
	err := s.forUpdate(ctx).Model(&User{}).Where("is_admin AND NOT disabled").Order("id").Pluck("id", &ids).Error
	return notFound(err, "lock active admins")
}

// MarkSignedIn records the time of a successful sign-in.
func (s *Store) MarkSignedIn(ctx context.Context, userID int64, at time.Time) error {
	err := s.q(ctx).Model(&User{}).Where("id = ?", userID).UpdateColumn("last_signin_at", at).Error
	return notFound(err, fmt.Sprintf("mark user %d signed in", userID))
}
