package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatehouse/models"
	"gatehouse/web/webtest"
)

// fxPassword is the password of every user the foundation tests create.
const fxPassword = "correct-horse-battery"

var (
	fxHashOnce sync.Once
	fxHash     string
)

// fxUser creates a user with fxPassword hashed once at bcrypt's lowest cost (verification reads the cost
// from the hash, so sign-in behaves the same, and the suite stays fast under the race detector).
func fxUser(t *testing.T, app *webtest.App, username string, admin bool) models.User {
	t.Helper()
	fxHashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(fxPassword), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		fxHash = string(h)
	})
	h := fxHash
	u := models.User{Username: username, Nickname: strings.ToUpper(username[:1]) + username[1:], IsAdmin: admin, PasswordHash: &h}
	if err := app.Store.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// fxSignedIn returns a new client signed in as username.
func fxSignedIn(t *testing.T, app *webtest.App, username string) *webtest.Client {
	t.Helper()
	c := app.Client()
	c.SignIn(username, fxPassword)
	return c
}

// fxClock is a settable clock for the server (timeouts).
type fxClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFxClock() *fxClock { return &fxClock{now: time.Now().UTC()} }

func (c *fxClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fxClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fxAudit counts audit events of an action with a target.
func fxAudit(t *testing.T, app *webtest.App, action, target string) int64 {
	t.Helper()
	var n int64
	if err := app.Store.DB().Model(&models.AuditEvent{}).Where("action = ? AND target = ?", action, target).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// fxUserRow reloads a user.
func fxUserRow(t *testing.T, app *webtest.App, id int64) models.User {
	t.Helper()
	u, err := app.Store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fxAnonymous tells whether a client holding only cookieValue as its session is treated as signed out.
func fxAnonymous(t *testing.T, app *webtest.App, cookieValue string) bool {
	t.Helper()
	c := app.Client()
	c.SetCookie("gatehouse_session", cookieValue)
	r := c.Get("/account")
	switch {
	case r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Location(), "/signin"):
		return true
	case r.StatusCode == http.StatusOK:
		return false
	}
	t.Fatalf("GET /account with a replayed cookie: %d %q", r.StatusCode, r.Location())
	return false
}

// fxSnapshot is the content of every table that a state-changing request could touch, to prove that a
// refused request changed nothing.
func fxSnapshot(t *testing.T, app *webtest.App) string {
	t.Helper()
	var b strings.Builder
	for _, model := range []any{&models.User{}, &models.Authenticator{}, &models.Binding{}, &models.Session{}, &models.AuditEvent{}, &models.WeComToken{}} {
		stmt := app.Store.DB().Model(model).Statement
		if err := stmt.Parse(model); err != nil {
			t.Fatal(err)
		}
		table := stmt.Schema.Table
		var rows []map[string]any
		if err := app.Store.DB().Table(table).Order("1").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(&b, "%s:", table)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%v", k, r[k])
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func fxForm(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
