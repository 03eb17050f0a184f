package views

import "gatehouse/models"

// hasMember tells whether WeCom was asked about the member of binding id.
func hasMember(m map[int64]MemberView, id int64) bool {
	_, ok := m[id]
	return ok
}

// sessionVia names how a session was made: the title of the WeCom authenticator of one of the
// user's bindings, or else the password.
func sessionVia(p Page, s models.Session, bindings []models.BindingWithAuthenticator) string {
	if s.AuthenticatorID == nil {
		return "—"
	}
	for _, b := range bindings {
		if b.AuthenticatorID == *s.AuthenticatorID {
			return b.AuthenticatorTitle
		}
	}
	return p.T.T("session.via_password")
}
