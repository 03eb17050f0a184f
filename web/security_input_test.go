package web_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/web/webtest"
)

// Bytes PostgreSQL refuses in a text column (NUL, invalid UTF-8) and input longer than any column get a
// refusal or a field error, never a 500 from a failed query.
func TestSecurityMalformedFormInput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10000)
	// 3,000 wide characters: far past every column, yet under the 64 KiB body limit once percent-encoded.
	longWide := strings.Repeat("中", 3000)
	webtest.ForEach(t, func(t *testing.T, app *webtest.App) {
		root := fxUser(t, app, "root", true)
		mem := fxUser(t, app, "mem", false)
		admin := fxSignedIn(t, app, "root")
		memPath := "/admin/users/" + strconv.FormatInt(mem.ID, 10)
		n := 0
		valid := func(kv ...string) []string {
			n++ // each row its own username, so one row's success cannot make another's name taken
			base := map[string]string{"username": "newbie" + strconv.Itoa(n), "nickname": "New", "email": "n@example.com", "mobile": "13800000009", "password": "newbie-password"}
			for i := 0; i+1 < len(kv); i += 2 {
				base[kv[i]] = kv[i+1]
			}
			var out []string
			for k, v := range base {
				out = append(out, k, v)
			}
			return out
		}
		tests := []struct {
			name   string
			client *webtest.Client
			method string
			path   string
			form   []string
			status int
		}{
			{"sign-in username with NUL", app.Client(), "POST", "/signin", []string{"username", "ro\x00ot", "password", "x"}, 401},
			{"sign-in username with invalid UTF-8", app.Client(), "POST", "/signin", []string{"username", "ro\xffot", "password", "x"}, 401},
			{"sign-in username of 10 000 characters", app.Client(), "POST", "/signin", []string{"username", long, "password", "x"}, 401},
			{"sign-in username of 3 000 wide characters", app.Client(), "POST", "/signin", []string{"username", longWide, "password", "x"}, 401},
			{"sign-in password of 10 000 characters", app.Client(), "POST", "/signin", []string{"username", "root", "password", long}, 401},
			{"sign-in password with NUL and invalid UTF-8", app.Client(), "POST", "/signin", []string{"username", "root", "password", "a\x00\xffb"}, 401},
			{"new user: username with NUL", admin, "POST", "/admin/users", valid("username", "a\x00b"), 422},
			{"new user: username with invalid UTF-8", admin, "POST", "/admin/users", valid("username", "a\xffb"), 422},
			{"new user: username of 10 000 characters", admin, "POST", "/admin/users", valid("username", long), 422},
			{"new user: nickname with NUL", admin, "POST", "/admin/users", valid("nickname", "a\x00b"), 422},
			{"new user: nickname with invalid UTF-8", admin, "POST", "/admin/users", valid("nickname", "a\xffb"), 422},
			{"new user: nickname of 3 000 wide characters", admin, "POST", "/admin/users", valid("nickname", longWide), 422},
			{"new user: email with NUL", admin, "POST", "/admin/users", valid("email", "a\x00b@example.com"), 422},
			{"new user: email with invalid UTF-8", admin, "POST", "/admin/users", valid("email", "a\xffb@example.com"), 422},
			{"new user: email of 10 000 characters", admin, "POST", "/admin/users", valid("email", long+"@example.com"), 422},
			{"new user: mobile with NUL", admin, "POST", "/admin/users", valid("mobile", "138\x0000000009"), 422},
			{"new user: mobile with invalid UTF-8", admin, "POST", "/admin/users", valid("mobile", "138\xff00000009"), 422},
			{"new user: password with NUL", admin, "POST", "/admin/users", valid("password", "password\x00password"), 422},
			{"new user: password with invalid UTF-8", admin, "POST", "/admin/users", valid("password", "password\xffpassword"), 422},
			{"new user: password of 10 000 characters", admin, "POST", "/admin/users", valid("password", long), 422},
			{"edit user: nickname with NUL", admin, "POST", memPath, []string{"nickname", "a\x00b"}, 422},
			{"edit user: nickname with invalid UTF-8", admin, "POST", memPath, []string{"nickname", "\xff\xfe"}, 422},
			{"edit user: email with NUL", admin, "POST", memPath, []string{"email", "a\x00@example.com"}, 422},
			{"edit user: password with NUL", admin, "POST", memPath, []string{"password", "password\x00password"}, 422},
			{"user search with NUL", admin, "GET", "/admin/users?q=%00%FF", nil, 200},
			{"audit search with NUL and invalid UTF-8", admin, "GET", "/admin/audit?target=%00%FF&actor=%00&action=%FF", nil, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var r *webtest.Response
				if tt.method == "GET" {
					r = tt.client.Get(tt.path)
				} else {
					r = tt.client.Post(tt.path, fxForm(tt.form...))
				}
				if r.StatusCode != tt.status {
					t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, r.StatusCode, tt.status)
				}
			})
		}
		if u := fxUserRow(t, app, root.ID); !u.IsAdmin {
			t.Fatal("root lost admin rights")
		}
		if strings.Contains(app.Logs(), "request failed") {
			t.Fatalf("a malformed input reached a failing query:\n%s", app.Logs())
		}
	}, webtest.WithThrottle(auth.Throttle{Window: 15 * time.Minute, PerAccount: 1000, PerIP: 1000}))
}
