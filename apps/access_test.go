package apps

import (
	"testing"

	"gatehouse/models"
)

func TestAllowed(t *testing.T) {
	everyone := models.App{Enabled: true, Access: models.AccessEveryone}
	ops := models.App{Enabled: true, Access: models.AccessGroups, Groups: []string{"ops"}}
	for _, tc := range []struct {
		name   string
		app    models.App
		user   models.User
		groups []string
		want   bool
	}{
		{"everyone", everyone, models.User{}, nil, true},
		{"disabled app", models.App{Access: models.AccessEveryone}, models.User{IsAdmin: true}, nil, false},
		{"disabled user", everyone, models.User{Disabled: true}, nil, false},
		{"in the group", ops, models.User{}, []string{"dev", "ops"}, true},
		{"not in the group", ops, models.User{}, []string{"dev"}, false},
		{"admin passes", ops, models.User{IsAdmin: true}, nil, true},
		{"no groups listed", models.App{Enabled: true, Access: models.AccessGroups}, models.User{}, []string{"ops"}, false},
	} {
		if got := Allowed(tc.app, tc.user, tc.groups); got != tc.want {
			t.Errorf("%s: Allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSecretHash(t *testing.T) {
	s := NewClientSecret()
	h := HashSecret(s)
	if !CheckSecret(h, s) || CheckSecret(h, s+"x") || CheckSecret("", "") || CheckSecret(h, "") {
		t.Fatal("CheckSecret does not tell the secret from others")
	}
	if NewClientID() == NewClientID() {
		t.Fatal("client ids repeat")
	}
}
