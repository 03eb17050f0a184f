package auth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/models/modelstest"
)

func TestParseBindFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		data  string
		kind  string
		lines []auth.BindLine
		err   error
	}{
		{"header, LF", "username,wecom_userid\nalice,zhangsan\n", auth.KeyUsername,
			[]auth.BindLine{{Line: 2, Key: "alice", Subject: "zhangsan"}}, nil},
		{"Excel: BOM, CRLF, padded cells, blank line", "\xEF\xBB\xBFmobile,wecom_userid,,\r\n13800000001 , lisi,\r\n\r\n13800000002,wangwu\r\n", auth.KeyMobile,
			[]auth.BindLine{{Line: 2, Key: "13800000001", Subject: "lisi"}, {Line: 4, Key: "13800000002", Subject: "wangwu"}}, nil},
		{"Chinese header", "用户名,企业微信账号\nalice,zs\n", auth.KeyUsername, []auth.BindLine{{Line: 2, Key: "alice", Subject: "zs"}}, nil},
		{"no header: first line is data", "alice,zs\n", auth.KeyAuto, []auth.BindLine{{Line: 1, Key: "alice", Subject: "zs"}}, nil},
		{"malformed lines keep their numbers", "username,userid\nalice\nbob,a b\n,zs\nc,d,e\n", auth.KeyUsername, []auth.BindLine{
			{Line: 2, Key: "alice", Bad: "columns"}, {Line: 3, Key: "bob", Subject: "a b", Bad: "bad_userid"},
			{Line: 4, Subject: "zs", Bad: "empty_key"}, {Line: 5, Key: "c", Bad: "columns"}}, nil},
		{"quoted cell with a newline counts its lines", "username,userid\n\"al\nice\",zs\nbob,ls\n", auth.KeyUsername, []auth.BindLine{
			{Line: 2, Key: "al\nice", Subject: "zs"}, {Line: 4, Key: "bob", Subject: "ls"}}, nil},
		{"GBK bytes are refused", "username,userid\n\xd5\xc5\xc8\xfd,zs\n", "", nil, auth.ErrBulkNotUTF8},
		{"header only", "username,userid\r\n", "", nil, auth.ErrBulkEmpty},
		{"too many rows", "username,userid\n" + strings.Repeat("a,b\n", auth.MaxBulkBindRows+1), "", nil, auth.ErrBulkTooManyRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := auth.ParseBindFile([]byte(tt.data))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if f.Kind != tt.kind {
				t.Errorf("kind %q, want %q", f.Kind, tt.kind)
			}
			if fmt.Sprint(f.Lines) != fmt.Sprint(tt.lines) {
				t.Errorf("lines\n got %v\nwant %v", f.Lines, tt.lines)
			}
		})
	}
}

func TestPlanBulkBind(t *testing.T) {
	t.Parallel()
	modelstest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		wc := models.Authenticator{Name: "corp", Type: models.TypeWeCom, Enabled: true, Options: models.AuthenticatorOptions{CorpID: "ww1"}}
		other := models.Authenticator{Name: "corp2", Type: models.TypeWeCom, Enabled: true}
		for _, a := range []*models.Authenticator{&wc, &other} {
			if err := s.CreateAuthenticator(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		users := map[string]models.User{}
		for i, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
			u := addUser(t, s, models.User{Username: name, Mobile: ptr(fmt.Sprintf("+861380000000%d", i))})
			users[name] = u
		}
		bind := func(user, subject string, a models.Authenticator) {
			if err := s.CreateBinding(ctx, &models.Binding{UserID: users[user].ID, AuthenticatorID: a.ID, Subject: subject}); err != nil {
				t.Fatal(err)
			}
		}
		bind("carol", "c.wx", wc)
		bind("dave", "d.old", wc)
		bind("erin", "e.wx", other) // another authenticator: no conflict here

		csv := "username,wecom_userid\n" +
			"alice,a.wx\n" + // 2 bind
			"Carol,c.wx\n" + // 3 already bound the same: skip
			"bob,c.wx\n" + // 4 userid held by carol
			"dave,d.new\n" + // 5 dave already bound to d.old
			"nobody,n.wx\n" + // 6 unknown
			"alice,a2.wx\n" + // 7 alice again
			"erin,a.wx\n" + // 8 a.wx again
			"erin,e.wx\n" + // 9 bind (e.wx is taken only at the other authenticator)
			"frank,bad userid\n" // 10 malformed
		want := []struct{ result, reason, other string }{
			{auth.BulkBind, "", ""}, {auth.BulkSkip, "already_bound", ""}, {auth.BulkConflict, "userid_taken", "carol"},
			{auth.BulkConflict, "user_bound", "d.old"}, {auth.BulkConflict, "unknown_user", ""}, {auth.BulkConflict, "duplicate_user", "2"},
			{auth.BulkConflict, "duplicate_userid", "2"}, {auth.BulkBind, "", ""}, {auth.BulkInvalid, "bad_userid", ""},
		}
		f, err := auth.ParseBindFile([]byte(csv))
		if err != nil {
			t.Fatal(err)
		}
		p, err := auth.PlanBulkBind(ctx, s, wc.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			r := p.Rows[i]
			if r.Result != w.result || r.Reason != w.reason || r.Other != w.other {
				t.Errorf("line %d (%s,%s): %s %s %q, want %s %s %q", r.Line, r.Key, r.Subject, r.Result, r.Reason, r.Other, w.result, w.reason, w.other)
			}
		}

		t.Run("mobiles find their users", func(t *testing.T) {
			f, _ := auth.ParseBindFile([]byte("mobile,userid\n138 0000 0001,b.wx\n+8613999999999,x\nnot-a-phone,y\n"))
			p, err := auth.PlanBulkBind(ctx, s, wc.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(p.Rows[0].Username, p.Rows[0].Result, " ", p.Rows[1].Reason, " ", p.Rows[2].Reason)
			if got != "bobbind unknown_mobile bad_mobile" {
				t.Errorf("got %q", got)
			}
		})

		t.Run("apply binds the previewed rows with the corp, all at once", func(t *testing.T) {
			err := s.InTx(ctx, func(tx *models.Store) error {
				_, err := auth.ApplyBulkBind(ctx, tx, wc, f, p.Fingerprint)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, subject := range map[string]string{"alice": "a.wx", "erin": "e.wx"} {
				b, err := s.BindingBySubject(ctx, wc.ID, subject)
				if err != nil || b.UserID != users[name].ID || b.CorpID != "ww1" {
					t.Errorf("%s: %+v %v", name, b, err)
				}
			}
			if n, _ := s.CountBindings(ctx, wc.ID); n != 4 {
				t.Errorf("%d bindings, want 4", n)
			}
		})

		t.Run("a plan that changed since the preview applies nothing", func(t *testing.T) {
			f, _ := auth.ParseBindFile([]byte("bob,b.wx\nfrank,f.wx\n"))
			before, _ := auth.PlanBulkBind(ctx, s, wc.ID, f)
			bind("bob", "b.other", wc) // someone binds bob by hand meanwhile
			var after auth.BulkPlan
			err := s.InTx(ctx, func(tx *models.Store) error {
				var err error
				after, err = auth.ApplyBulkBind(ctx, tx, wc, f, before.Fingerprint)
				return err
			})
			if !errors.Is(err, auth.ErrBulkPlanChanged) || after.Rows[0].Reason != "user_bound" {
				t.Fatalf("err %v, row %+v", err, after.Rows[0])
			}
			if _, err := s.BindingBySubject(ctx, wc.ID, "f.wx"); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("frank was bound: %v", err)
			}
		})
	})
}

// A cell that starts like a formula (= + - @, tab, CR) never reaches a spreadsheet as one: bulk results
// and exports prefix it with an apostrophe.
func TestSecurityCSVCellsEscapeFormulas(t *testing.T) {
	t.Parallel()
	var row bytes.Buffer
	w := auth.NewCSVWriter(&row)
	if err := w.Write("=1+1", "+86138", "-2", "@SUM(A1)", "\tx", "plain", ""); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	if got, want := row.String(), "\uFEFF'=1+1,'+86138,'-2,'@SUM(A1),'\tx,plain,\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var b bytes.Buffer
	_ = auth.WriteBulkResultCSV(&b, auth.BulkPlan{Rows: []auth.BulkRow{{Line: 2, Key: "=cmd", Result: "bind"}}}, func(auth.BulkRow) string { return "" })
	if !strings.HasPrefix(b.String(), "\xEF\xBB\xBFline,") || !strings.Contains(b.String(), "'=cmd") {
		t.Errorf("csv %q", b.String())
	}
}
