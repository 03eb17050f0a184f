package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gatehouse/models"
)

// MaxBulkBindRows caps the data rows of one bulk-binding file: a plan is built in memory and applied in
// one transaction, so a file must stay a size an organisation rolls out in one go.
const MaxBulkBindRows = 50000

// Errors of a bulk-binding file as a whole (its rows have their own reasons).
var (
	ErrBulkTooManyRows = errors.New("too many rows")
	ErrBulkNotUTF8     = errors.New("not UTF-8")
	ErrBulkEmpty       = errors.New("no rows")
	// ErrBulkPlanChanged means the database changed since the preview: nothing was applied.
	ErrBulkPlanChanged = errors.New("bulk binding plan changed since the preview")
)

// Key kinds of a bulk-binding line: how its first column finds the user.
const (
	KeyUsername = "username"
	KeyMobile   = "mobile"
	// KeyAuto is a file without a header: a key is a username, else (when it is a phone number) a mobile.
	KeyAuto = "auto"
)

// BindLine is one data line of a bulk-binding file.
type BindLine struct {
	Line    int    // 1-based line number in the file, as a spreadsheet shows it
	Key     string // username or mobile as written
	Subject string // WeCom userid
	Bad     string // reason code when the line is malformed
}

// BindFile is a parsed bulk-binding file.
type BindFile struct {
	Kind  string // KeyUsername, KeyMobile or KeyAuto
	Lines []BindLine
}

// Bulk-binding row results.
const (
	BulkBind     = "bind"     // will be (or was) bound
	BulkSkip     = "skip"     // already bound exactly so: nothing to do
	BulkConflict = "conflict" // cannot be bound; see the reason
	BulkInvalid  = "invalid"  // the line itself is wrong
)

// BulkRow is the plan for one line.
type BulkRow struct {
	Line     int
	Key      string
	Subject  string
	UserID   int64
	Username string
	Result   string // BulkBind, BulkSkip, BulkConflict, BulkInvalid
	Reason   string // reason code (translated as bulkbind.reason.<code>); "" for BulkBind
	// Other is the line number of the earlier line for a duplicate, or the username already holding the
	// userid, when the reason names one.
	Other string
}

// BulkPlan is what a bulk-binding file would do at one authenticator.
type BulkPlan struct {
	Rows   []BulkRow
	Counts map[string]int // by Result
	// Fingerprint identifies the plan: the same file against the same bindings gives the same one.
	Fingerprint string
}

// ParseBindFile reads a CSV as Excel and WPS save it: UTF-8 with or without BOM, CRLF or LF, an optional
// header row ("username"/"mobile", then "wecom_userid" or "userid", also in Chinese), blank lines
// skipped, trailing empty cells ignored.
func ParseBindFile(data []byte) (BindFile, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if !utf8.Valid(data) {
		return BindFile{}, ErrBulkNotUTF8
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	f := BindFile{Kind: KeyAuto}
	first := true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return f, fmt.Errorf("read csv: %w", err)
			}
			f.Lines = append(f.Lines, BindLine{Line: pe.StartLine, Bad: "malformed"})
			continue
		}
		rec = trimCells(rec)
		if len(rec) == 0 {
			continue
		}
		if first {
			first = false
			if kind, ok := headerKind(rec); ok {
				f.Kind = kind
				continue
			}
		}
		if len(f.Lines) >= MaxBulkBindRows {
			return f, ErrBulkTooManyRows
		}
		f.Lines = append(f.Lines, parseBindLine(line, rec))
	}
	if len(f.Lines) == 0 {
		return f, ErrBulkEmpty
	}
	return f, nil
}

// trimCells trims spaces around cells and drops trailing empty ones (spreadsheets pad rows).
func trimCells(rec []string) []string {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	for len(rec) > 0 && rec[len(rec)-1] == "" {
		rec = rec[:len(rec)-1]
	}
	return rec
}

func headerKind(rec []string) (string, bool) {
	if len(rec) != 2 {
		return "", false
	}
	second := strings.ToLower(rec[1])
	if second != "wecom_userid" && second != "userid" && second != "企业微信userid" && second != "企业微信账号" {
		return "", false
	}
	switch strings.ToLower(rec[0]) {
	case "username", "用户名":
		return KeyUsername, true
	case "mobile", "手机", "手机号":
		return KeyMobile, true
	}
	return "", false
}

func parseBindLine(line int, rec []string) BindLine {
	l := BindLine{Line: line}
	switch {
	case len(rec) != 2:
		l.Bad = "columns"
		if len(rec) > 0 {
			l.Key = cut(rec[0], 64)
		}
		return l
	case rec[0] == "":
		l.Bad = "empty_key"
	case !ValidWeComUserID(rec[1]):
		l.Bad = "bad_userid"
	}
	l.Key, l.Subject = cut(rec[0], 64), cut(rec[1], 64)
	return l
}

// cut keeps at most n bytes of s, on a rune boundary, so a wild cell cannot bloat the preview.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidWeComUserID tells whether s can be a WeCom userid: 1-64 letters, digits, '_', '-', '.' or '@'.
func ValidWeComUserID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.@", r)) {
			return false
		}
	}
	return true
}

// BulkBindStore is what planning and applying a bulk binding need: set-based lookups and a batch insert.
type BulkBindStore interface {
	UsersByUsernames(ctx context.Context, names []string) (map[string]models.UserRef, error)
	UsersByMobiles(ctx context.Context, mobiles []string) (map[string]models.UserRef, error)
	BoundSubjectsOfUsers(ctx context.Context, authenticatorID int64, userIDs []int64) (map[int64]string, error)
	BoundUsersOfSubjects(ctx context.Context, authenticatorID int64, subjects []string) (map[string]int64, error)
	UsernamesByIDs(ctx context.Context, ids []int64) (map[int64]string, error)
	CreateBindings(ctx context.Context, bs []models.Binding) error
}

// PlanBulkBind decides, line by line, what binding the file's users to their WeCom userids at one
// authenticator would do. It reads the database with a handful of set queries, never one per line.
func PlanBulkBind(ctx context.Context, st BulkBindStore, authenticatorID int64, f BindFile) (BulkPlan, error) {
	rows := make([]BulkRow, len(f.Lines))
	var names, mobiles, subjects []string
	normMobile := make([]string, len(f.Lines))
	for i, l := range f.Lines {
		rows[i] = BulkRow{Line: l.Line, Key: l.Key, Subject: l.Subject}
		if l.Bad != "" {
			rows[i].Result, rows[i].Reason = BulkInvalid, l.Bad
			continue
		}
		subjects = append(subjects, l.Subject)
		if f.Kind != KeyMobile {
			names = append(names, models.NormalizeUsername(l.Key))
		}
		if f.Kind != KeyUsername {
			if m, err := models.NormalizeMobile(l.Key); err == nil && m != "" {
				normMobile[i] = m
				mobiles = append(mobiles, m)
			} else if f.Kind == KeyMobile {
				rows[i].Result, rows[i].Reason = BulkInvalid, "bad_mobile"
			}
		}
	}
	byName, err := st.UsersByUsernames(ctx, names)
	if err != nil {
		return BulkPlan{}, err
	}
	byMobile, err := st.UsersByMobiles(ctx, mobiles)
	if err != nil {
		return BulkPlan{}, err
	}
	var userIDs []int64
	for i := range rows {
		r := &rows[i]
		if r.Result != "" {
			continue
		}
		ref, ok := byName[models.NormalizeUsername(r.Key)]
		if !ok || f.Kind == KeyMobile {
			ref, ok = byMobile[normMobile[i]]
		}
		if !ok {
			r.Result, r.Reason = BulkConflict, "unknown_user"
			if f.Kind == KeyMobile {
				r.Reason = "unknown_mobile"
			}
			continue
		}
		r.UserID, r.Username = ref.ID, ref.Username
		userIDs = append(userIDs, ref.ID)
	}
	boundOfUser, err := st.BoundSubjectsOfUsers(ctx, authenticatorID, userIDs)
	if err != nil {
		return BulkPlan{}, err
	}
	userOfSubject, err := st.BoundUsersOfSubjects(ctx, authenticatorID, subjects)
	if err != nil {
		return BulkPlan{}, err
	}
	holders, err := st.UsernamesByIDs(ctx, holderIDs(userOfSubject))
	if err != nil {
		return BulkPlan{}, err
	}
	decideBulkRows(rows, boundOfUser, userOfSubject, holders)
	return finishPlan(rows), nil
}

func holderIDs(m map[string]int64) []int64 {
	ids := make([]int64, 0, len(m))
	for _, id := range m {
		ids = append(ids, id)
	}
	return ids
}

// decideBulkRows judges the rows whose user was found: against the bindings that exist, then against the
// earlier lines of the file (the first line that binds a user or a userid wins).
func decideBulkRows(rows []BulkRow, boundOfUser map[int64]string, userOfSubject map[string]int64, holders map[int64]string) {
	seenUser := map[int64]int{}
	seenSubject := map[string]int{}
	for i := range rows {
		r := &rows[i]
		if r.Result != "" {
			continue
		}
		holder, taken := userOfSubject[r.Subject]
		current, bound := boundOfUser[r.UserID]
		switch {
		case bound && current == r.Subject:
			r.Result, r.Reason = BulkSkip, "already_bound"
		case taken && holder != r.UserID:
			r.Result, r.Reason, r.Other = BulkConflict, "userid_taken", holders[holder]
		case bound:
			r.Result, r.Reason, r.Other = BulkConflict, "user_bound", current
		case seenUser[r.UserID] != 0:
			r.Result, r.Reason, r.Other = BulkConflict, "duplicate_user", fmt.Sprint(seenUser[r.UserID])
		case seenSubject[r.Subject] != 0:
			r.Result, r.Reason, r.Other = BulkConflict, "duplicate_userid", fmt.Sprint(seenSubject[r.Subject])
		default:
			r.Result = BulkBind
		}
		if r.Result == BulkBind || r.Result == BulkSkip { // a refused line claims nothing
			seenUser[r.UserID], seenSubject[r.Subject] = r.Line, r.Line
		}
	}
}

func finishPlan(rows []BulkRow) BulkPlan {
	p := BulkPlan{Rows: rows, Counts: map[string]int{}}
	h := sha256.New()
	for _, r := range rows {
		p.Counts[r.Result]++
		fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s\x00%s\n", r.Line, r.UserID, r.Subject, r.Result, r.Reason)
	}
	p.Fingerprint = hex.EncodeToString(h.Sum(nil))[:32]
	return p
}

// ApplyBulkBind plans the file again inside tx and, when the plan is still the previewed one
// (fingerprint), inserts every BulkBind row in batches. A changed plan returns ErrBulkPlanChanged with
// the new plan, having written nothing; the caller rolls the transaction back on any error.
func ApplyBulkBind(ctx context.Context, tx BulkBindStore, a models.Authenticator, f BindFile, fingerprint string) (BulkPlan, error) {
	p, err := PlanBulkBind(ctx, tx, a.ID, f)
	if err != nil {
		return p, err
	}
	if p.Fingerprint != fingerprint {
		return p, ErrBulkPlanChanged
	}
	bs := make([]models.Binding, 0, p.Counts[BulkBind])
	for _, r := range p.Rows {
		if r.Result == BulkBind {
			bs = append(bs, models.Binding{UserID: r.UserID, AuthenticatorID: a.ID, Subject: r.Subject, CorpID: a.Options.CorpID})
		}
	}
	if err := tx.CreateBindings(ctx, bs); err != nil {
		return p, fmt.Errorf("bulk bind %d rows at authenticator %q: %w", len(bs), a.Name, err)
	}
	return p, nil
}

// WriteBulkResultCSV writes the plan as CSV (line, key, username, userid, result, reason) for
// spreadsheets (see CSVWriter).
func WriteBulkResultCSV(w io.Writer, p BulkPlan, reason func(BulkRow) string) error {
	cw := NewCSVWriter(w)
	if err := cw.Write("line", "key", "username", "wecom_userid", "result", "reason"); err != nil {
		return err
	}
	for _, r := range p.Rows {
		if err := cw.Write(fmt.Sprint(r.Line), r.Key, r.Username, r.Subject, r.Result, reason(r)); err != nil {
			return err
		}
	}
	return cw.Flush()
}
