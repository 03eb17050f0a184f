// Package apps holds the applications Gatehouse signs people in to (DESIGN.md §10), free of Gin: who
// may use which app, the OpenID Connect provider's storage and keys, and forward-auth decisions.
package apps

import (
	"slices"

	"gatehouse/models"
)

// Allowed tells whether a signed-in user may use an app: the app is enabled, the user is enabled, and
// the user is an admin, the app lets everyone in, or the user is in one of its groups.
func Allowed(app models.App, u models.User, groups []string) bool {
	if !app.Enabled || u.Disabled {
		return false
	}
	if u.IsAdmin || app.Access == models.AccessEveryone {
		return true
	}
	return slices.ContainsFunc(app.Groups, func(g string) bool { return slices.Contains(groups, g) })
}
