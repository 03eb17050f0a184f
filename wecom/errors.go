package wecom

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Codes that WeCom never sends: the client uses them for failures that have no errcode.
const (
	// CodeUnreachable means WeCom could not be reached in time: a network error, a refused
	// connection or a timeout (the call's context ended).
	CodeUnreachable = -2
	// CodeBadResponse means WeCom answered, but not with a JSON reply: an HTTP status other than
	// 200 or a body that does not decode.
	CodeBadResponse = -3
)

// Error is a WeCom business error (errcode != 0) or a transport failure (CodeUnreachable,
// CodeBadResponse). It deliberately keeps neither errmsg's raw text nor any URL, so it can be
// logged and shown without leaking a secret or an access_token.
type Error struct {
	Op     string // the call: "gettoken", "getuserinfo", "getuserdetail", "user/get", "getuserid"
	Code   int    // WeCom's errcode, or CodeUnreachable / CodeBadResponse
	FromIP string // the caller IP WeCom reported in errmsg ("from ip: …"), useful for 60020

	cause error // transport cause, already stripped of URLs; nil for business errors
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("wecom %s: errcode %d (%s)", e.Op, e.Code, Meaning(e.Code))
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap exposes the transport cause, so errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.cause }

// CodeOf returns the WeCom errcode carried by err, CodeUnreachable for a bare context
// cancellation or deadline, and 0 when err is nil or carries no code.
func CodeOf(err error) int {
	var we *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &we):
		return we.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return CodeUnreachable
	default:
		return 0
	}
}

// Meaning returns a short English meaning of a WeCom errcode (the table of shared/wecom-api.md,
// plus the codes a malformed request can draw), for logs and admins. The app translates for end
// users by errcode itself.
func Meaning(code int) string {
	switch code {
	case 0:
		return "ok"
	case CodeUnreachable:
		return "WeCom unreachable or timed out"
	case CodeBadResponse:
		return "unexpected reply from WeCom"
	case CodeBreakerOpen:
		return "WeCom calls paused after repeated failures"
	case -1:
		return "system busy"
	case 40001:
		return "invalid secret"
	case 40013:
		return "invalid corpid"
	case 40014:
		return "invalid access_token"
	case 40029:
		return "invalid code"
	case 40056:
		return "invalid agentid"
	case 41001:
		return "access_token missing"
	case 41002:
		return "corpid missing"
	case 41004:
		return "corpsecret missing"
	case 41008:
		return "code missing"
	case 41009:
		return "userid missing"
	case 42001:
		return "access_token expired"
	case 45009:
		return "API rate limit reached"
	case 45033:
		return "too many concurrent API calls"
	case 40068:
		return "invalid tag id"
	case 60003:
		return "department not found"
	case 60123:
		return "invalid department id"
	case 40003:
		return "invalid userid"
	case 46004:
		return "member not found"
	case 47001:
		return "malformed request body"
	case 48002:
		return "API forbidden"
	case 50001:
		return "redirect_uri not a trusted domain"
	case 60011:
		return "member not in the app's visible range"
	case 60020:
		return "caller IP not trusted"
	case 60111:
		return "userid not found"
	case 84014:
		return "user_ticket expired"
	case 84015:
		return "user_ticket invalid"
	case 301002:
		return "access_token belongs to another app"
	default:
		return "unknown error"
	}
}

// IsConfigError reports whether code means the authenticator's settings (or the WeCom admin
// console) are wrong, so an administrator, not the member, must act.
func IsConfigError(code int) bool {
	switch code {
	case 40001, 40013, 40056, 41004, 48002, 50001, 60020, 301002:
		return true
	}
	return false
}

// fromIPPattern finds the caller IP in a live errmsg such as
// "not allow to access from your ip, hint: [...], from ip: 1.2.3.4, more info at ...".
var fromIPPattern = regexp.MustCompile(`from ip: ?([0-9A-Fa-f.:]+)`)

func parseFromIP(errmsg string) string {
	m := fromIPPattern.FindStringSubmatch(errmsg)
	if m == nil {
		return ""
	}
	return m[1]
}
