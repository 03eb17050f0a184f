package wecom

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// Directory reads of a self-built app (shared/wecom-directory.md §1–§3): what the app may see of the
// corp's departments and tags. Every call is limited to the app's visible range by WeCom itself.

// DepartmentRef is one row of department/simplelist: an id and its parent, no name.
type DepartmentRef struct {
	ID       int64 `json:"id"`
	ParentID int64 `json:"parentid"`
	Order    int64 `json:"order"`
}

// Department is one department as department/get returns it. The root has ID 1 and ParentID 0.
type Department struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	NameEN   string `json:"name_en"`
	ParentID int64  `json:"parentid"`
	Order    int64  `json:"order"`
}

// Tag is one row of tag/list.
type Tag struct {
	ID   int64  `json:"tagid"`
	Name string `json:"tagname"`
}

// TagMembers is tag/get's answer: only members in the app's visible range are listed; Parties are
// department ids, not expanded into members.
type TagMembers struct {
	Name  string `json:"tagname"`
	Users []struct {
		UserID string `json:"userid"`
		Name   string `json:"name"`
	} `json:"userlist"`
	Parties []int64 `json:"partylist"`
}

// ErrMemberUnavailable is matched (errors.Is) by a user/get error that means the member is no longer
// available to the app: 60111 (userid not found: left, deleted or outside the visible range), 60011
// (no permission: outside the visible range) and 40003 (invalid userid: removed after leaving). None of
// them proves the member left the company. 46004 is not among them: it answers lookups by mobile or
// email, is not expected from user/get (wecom-directory.md §1), and an answer nobody documented must
// not cut anyone off.
var ErrMemberUnavailable = errors.New("wecom: member not available to the app")

// ErrRateLimited is matched (errors.Is) by 45009 (call limit exceeded; the block lasts as long as the
// limit's window) and 45033 (too many concurrent calls): the caller should slow down and try later.
var ErrRateLimited = errors.New("wecom: rate limited")

// Is makes errors.Is(err, ErrMemberUnavailable) and errors.Is(err, ErrRateLimited) work on an *Error.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrMemberUnavailable:
		return IsMemberUnavailable(e.Code)
	case ErrRateLimited:
		return IsRateLimited(e.Code)
	}
	return false
}

// IsMemberUnavailable tells whether a user/get errcode means the member is gone for this app.
func IsMemberUnavailable(code int) bool {
	switch code {
	case 60111, 60011, 40003:
		return true
	}
	return false
}

// IsRateLimited tells whether an errcode asks the caller to slow down (45009 frequency, 45033
// concurrency).
func IsRateLimited(code int) bool { return code == 45009 || code == 45033 }

// DepartmentIDs lists the departments the app may see (GET /cgi-bin/department/simplelist), the
// whole visible tree when rootID is 0, else rootID's subtree. A department whose parent is outside
// the visible range is listed with that parent's id, which is itself missing from the list.
func (c *Client) DepartmentIDs(ctx context.Context, cfg Config, rootID int64) ([]DepartmentRef, error) {
	var reply struct {
		Departments []DepartmentRef `json:"department_id"`
	}
	q := url.Values{}
	if rootID > 0 {
		q.Set("id", strconv.FormatInt(rootID, 10))
	}
	err := c.call(ctx, cfg, "department/simplelist", http.MethodGet, "/cgi-bin/department/simplelist", q, nil, &reply)
	return reply.Departments, err
}

// Department reads one department the app may see (GET /cgi-bin/department/get): 60011 outside the
// visible range, 60003 when it does not exist.
func (c *Client) Department(ctx context.Context, cfg Config, id int64) (Department, error) {
	var reply struct {
		Department Department `json:"department"`
	}
	q := url.Values{"id": {strconv.FormatInt(id, 10)}}
	err := c.call(ctx, cfg, "department/get", http.MethodGet, "/cgi-bin/department/get", q, nil, &reply)
	return reply.Department, err
}

// Tags lists every tag of the corp (GET /cgi-bin/tag/list): a self-built app sees all of them.
func (c *Client) Tags(ctx context.Context, cfg Config) ([]Tag, error) {
	var reply struct {
		Tags []Tag `json:"taglist"`
	}
	err := c.call(ctx, cfg, "tag/list", http.MethodGet, "/cgi-bin/tag/list", nil, nil, &reply)
	return reply.Tags, err
}

// TagMembers reads a tag's members in the app's visible range (GET /cgi-bin/tag/get); 40068 for an
// unknown tag.
func (c *Client) TagMembers(ctx context.Context, cfg Config, tagID int64) (TagMembers, error) {
	var reply TagMembers
	q := url.Values{"tagid": {strconv.FormatInt(tagID, 10)}}
	err := c.call(ctx, cfg, "tag/get", http.MethodGet, "/cgi-bin/tag/get", q, nil, &reply)
	return reply, err
}
