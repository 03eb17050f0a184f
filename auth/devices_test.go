package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse/auth"
)

// A browser's device cookie keeps its id across sign-ins and names the accounts signed in to most
// recently, a bounded number of them; another deployment's key (or a forged cookie) names nothing.
func TestDevices(t *testing.T) {
	key := func(b byte) []byte {
		k := make([]byte, 32)
		for i := range k {
			k[i] = b
		}
		return k
	}
	d := auth.NewDevices(key(1), key(2), false)
	var cookie *http.Cookie
	signIn := func(username string) auth.Device {
		r := httptest.NewRequest(http.MethodPost, "/signin", nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		if err := d.Remember(w, r, username); err != nil {
			t.Fatal(err)
		}
		cookie = w.Result().Cookies()[0]
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge < 300*24*3600 {
			t.Fatalf("device cookie attributes: %+v", cookie)
		}
		r = httptest.NewRequest(http.MethodPost, "/signin", nil)
		r.AddCookie(cookie)
		return d.Read(r)
	}
	first := signIn("alice")
	if !first.Knows("alice") || first.Knows("bob") {
		t.Fatalf("after alice signed in: %+v", first)
	}
	var last auth.Device
	for i := range 20 {
		last = signIn(fmt.Sprintf("user%02d", i))
	}
	if last.ID != first.ID {
		t.Fatal("the device id changed between sign-ins")
	}
	if len(last.Accounts) > 8 || !last.Knows("user19") || last.Knows("alice") {
		t.Fatalf("accounts after 21 sign-ins: %v, want the 8 most recent", last.Accounts)
	}
	other := auth.NewDevices(key(3), key(4), false)
	r := httptest.NewRequest(http.MethodPost, "/signin", nil)
	r.AddCookie(cookie)
	if dev := other.Read(r); dev.Knows("user19") || dev.ID != "" {
		t.Fatalf("a cookie under another key was accepted: %+v", dev)
	}
}
