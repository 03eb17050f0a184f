package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
	"gatehouse/web/webtest"
	"gatehouse/wecom"
)

// TestSecurityWeComSecretCopiedToAnotherAuthenticator: an authenticator whose secret column holds a
// value sealed for another authenticator does not sign anyone in with it; renaming an authenticator in
// the admin form (without typing the secret again) keeps its sign-ins working.
func TestSecurityWeComSecretCopiedToAnotherAuthenticator(t *testing.T) {
	for _, dialect := range modelstest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w, admin := adminWorld(t, dialect, worldSpec{AutoSignup: true})
			other := w.app.CreateWeComAuthenticator(webtest.WeComAuthenticator{Name: "other", CorpID: corpID, AgentID: agentID, Secret: "wrong-secret-for-this-app", AutoSignup: true})
			// Someone with write access to the table copies corp's sealed (right) secret into other.
			if err := w.app.Store.DB().Model(&models.Authenticator{}).Where("id = ?", other.ID).UpdateColumn("secret_sealed", w.a.SecretSealed).Error; err != nil {
				t.Fatal(err)
			}
			phone := w.app.Client()
			phone.UserAgent = wecom.UserAgentIOS
			r := w.signIn(t, phone, "bob", "/auth/wecom/other/start?redirect=/account")
			if r.StatusCode == http.StatusOK && r.Find("[data-testid=account]").Length() == 1 {
				t.Fatal("a secret copied from another authenticator signed bob in")
			}
			if n := countRows(t, w.app); n.users != 1 || n.bindings != 0 {
				t.Fatalf("the copied secret created users or bindings: %+v", n)
			}

			edit := wecomFormValues(w, map[string]string{"name": "corp-renamed", "secret": ""})
			if r := admin.Post(fmt.Sprintf("/admin/authenticators/%d", w.a.ID), edit); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("rename: %d %.300s", r.StatusCode, r.Body)
			}
			phone = w.app.Client()
			phone.UserAgent = wecom.UserAgentIOS
			r = w.signIn(t, phone, "bob", "/auth/wecom/corp-renamed/start?redirect=/account")
			if r.StatusCode != http.StatusOK || r.Find("[data-testid=account]").Length() != 1 {
				t.Fatalf("sign-in after a rename: %d %q %.300s", r.StatusCode, r.Outcome(), r.Body)
			}
		})
	}
}
