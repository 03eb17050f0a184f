package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gatehouse/directory"
	"gatehouse/models"
)

const (
	typedEventToken = "Tok3nTyped0123"
	typedEventKey   = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)

// TestSecurityEventsSettingsWriteOnly: the event Token and EncodingAESKey are validated with errors
// beside their fields, sealed for their row and purpose, never shown or logged, kept when left empty,
// re-sealed on a rename, and removable; the paste block shows the events URL and whether events are on.
func TestSecurityEventsSettingsWriteOnly(t *testing.T) {
	webtestDialects(t, func(t *testing.T, dialect string) {
		w, c := adminWorld(t, dialect, worldSpec{})
		// Invalid values: 422, translated errors beside the fields, nothing typed comes back.
		for _, tc := range []struct{ token, key, field, text string }{
			{"has space", typedEventKey, "event_token", "Token"},
			{typedEventToken, typedEventKey[:42], "event_aes_key", "43"},
			{typedEventToken, typedEventKey[:42] + "=", "event_aes_key", "43"},
			{typedEventToken, "", "event_aes_key", "both"},
			{"", typedEventKey, "event_token", "both"},
		} {
			r := c.Post("/admin/authenticators", wecomFormValues(w, map[string]string{"name": "acme", "event_token": tc.token, "event_aes_key": tc.key}))
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%q/%q: status %d", tc.token, tc.key, r.StatusCode)
			}
			if e := r.Find(`[data-testid="error-` + tc.field + `"]`).Text(); !strings.Contains(e, tc.text) {
				t.Errorf("%q/%q: error beside %s = %q", tc.token, tc.key, tc.field, e)
			}
			if strings.Contains(r.Body, typedEventKey) || (tc.token != "" && strings.Contains(r.Body, `value="`+tc.token)) {
				t.Errorf("the form sent a typed event setting back")
			}
		}
		r := c.Post("/admin/authenticators", wecomFormValues(w, map[string]string{"name": "acme", "event_token": typedEventToken, "event_aes_key": typedEventKey}))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create = %d %s", r.StatusCode, r.Find(".field-error").Text())
		}
		a, err := w.app.Store.AuthenticatorByName(context.Background(), "acme")
		must(t, err)
		if !a.HasEventSettings() {
			t.Fatal("event settings not stored")
		}
		sealer, err := models.NewSealer(w.app.Config.SecretKey)
		must(t, err)
		if tok, err := sealer.Open(a.EventTokenSealed, models.EventToken("acme")); err != nil || tok != typedEventToken {
			t.Fatalf("token opens as %q, %v", tok, err)
		}
		if _, err := sealer.Open(a.EventTokenSealed, models.EventAESKey("acme")); err == nil {
			t.Fatal("the token opens as the key: not bound to its purpose")
		}
		if _, err := sealer.Open(a.EventAESKeySealed, models.EventAESKey("other")); err == nil {
			t.Fatal("the key opens for another row")
		}
		edit := "/admin/authenticators/" + strconv.FormatInt(a.ID, 10)
		page := c.Get(edit)
		if got := page.Find(`[data-testid="paste-events"]`).AttrOr("value", ""); got != w.app.URL()+"/auth/wecom/acme/events" {
			t.Errorf("events URL = %q", got)
		}
		if page.Find(`[data-testid="events-status"]`).AttrOr("data-configured", "") != "yes" {
			t.Error("the paste block does not say events are configured")
		}
		if v := page.Find(`input[name="event_token"]`).AttrOr("value", "x"); v != "" {
			t.Errorf("event_token field shows %q", v)
		}
		// Empty on save keeps both; a rename re-seals them for the new name.
		r = c.Post(edit, wecomFormValues(w, map[string]string{"name": "acme2", "secret": ""}))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("rename = %d %s", r.StatusCode, r.Find(".field-error").Text())
		}
		a, err = w.app.Store.AuthenticatorByID(context.Background(), a.ID)
		must(t, err)
		c2, err := (&directory.Events{Sealer: sealer}).Crypto(a)
		if err != nil {
			t.Fatalf("after the rename the settings do not open: %v", err)
		}
		if _, err := c2.Decrypt(mustEncrypt(t, typedEventToken, typedEventKey, corpID)); err != nil {
			t.Fatalf("renamed settings: %v", err)
		}
		page = c.Get(edit)
		assertSecretNowhere(t, w.app, typedEventKey, page.Body, r.Body)
		assertSecretNowhere(t, w.app, typedEventToken, page.Body)
		// Removing them: the endpoint refuses, the paste block says so.
		r = c.Post(edit, wecomFormValues(w, map[string]string{"name": "acme2", "secret": "", "clear_events": "on"}))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("clear = %d", r.StatusCode)
		}
		if c.Get(edit).Find(`[data-testid="events-status"]`).AttrOr("data-configured", "") != "no" {
			t.Error("events still shown as configured")
		}
		if r := c.Get("/auth/wecom/acme2/events?msg_signature=1&timestamp=2&nonce=3&echostr=4"); r.StatusCode != http.StatusNotFound {
			t.Errorf("events of a cleared authenticator = %d", r.StatusCode)
		}
	})
}

func mustEncrypt(t *testing.T, token, key, corp string) string {
	t.Helper()
	c, err := directory.NewCallbackCrypto(token, key, corp)
	must(t, err)
	s, err := c.Encrypt([]byte("hello"), nil)
	must(t, err)
	return s
}
