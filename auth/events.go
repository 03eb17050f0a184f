package auth

import (
	"errors"
	"fmt"
	"strings"

	"gatehouse/directory"
	"gatehouse/models"
)

// checkEventSettings validates the event Token and EncodingAESKey typed on the form (DESIGN.md §11).
// Both are write-only like the secret: empty keeps the stored value, and a first configuration needs
// both. ClearEvents drops them.
func checkEventSettings(in *WeComInput, a *models.Authenticator, bad Invalid) {
	in.EventToken, in.EventAESKey = strings.TrimSpace(in.EventToken), strings.TrimSpace(in.EventAESKey)
	if in.ClearEvents {
		return
	}
	if in.EventToken != "" && !directory.ValidEventToken(in.EventToken) {
		bad["event_token"] = "events_token"
	}
	if in.EventAESKey != "" {
		if _, err := directory.DecodeAESKey(in.EventAESKey); err != nil {
			bad["event_aes_key"] = "events_aes_key"
		}
	}
	hasToken, hasKey := in.EventToken != "" || a.EventTokenSealed != "", in.EventAESKey != "" || a.EventAESKeySealed != ""
	switch {
	case hasToken && !hasKey && bad["event_aes_key"] == "":
		bad["event_aes_key"] = "events_pair"
	case hasKey && !hasToken && bad["event_token"] == "":
		bad["event_token"] = "events_pair"
	}
}

// sealEventSettings sets a's sealed event settings after an edit: sealed for a's name when typed, else
// the stored ones, re-sealed when the authenticator was renamed from prevName or sealed with an old
// key or format. A stored value that no longer opens asks for it again.
func (s *WeComAuthenticators) sealEventSettings(in WeComInput, prevName string, a *models.Authenticator) error {
	if in.ClearEvents {
		a.EventTokenSealed, a.EventAESKeySealed = "", ""
		return nil
	}
	for _, v := range []struct {
		field, typed string
		sealed       *string
		purpose      func(string) models.SealedFor
	}{
		{"event_token", in.EventToken, &a.EventTokenSealed, models.EventToken},
		{"event_aes_key", in.EventAESKey, &a.EventAESKeySealed, models.EventAESKey},
	} {
		var err error
		switch {
		case v.typed != "":
			*v.sealed, err = s.sealer.Seal(v.typed, v.purpose(a.Name))
		case *v.sealed != "" && (prevName != a.Name || s.sealer.NeedsReseal(*v.sealed)):
			*v.sealed, err = s.sealer.Reseal(*v.sealed, v.purpose(prevName), v.purpose(a.Name))
			if errors.Is(err, models.ErrUnseal) {
				return Invalid{v.field: "events_unreadable"}
			}
		}
		if err != nil {
			return fmt.Errorf("seal %s of authenticator %q: %w", v.field, a.Name, err)
		}
	}
	return nil
}
