package auth

import (
	"errors"
	"fmt"

	"gatehouse/models"
)

// sealSecret returns a's secret column after an edit: secret sealed for a's name when one was typed,
// else the stored value, re-sealed when the authenticator was renamed from prevName (a sealed secret is
// bound to its authenticator's name) or sealed in an old format or with an old key. A stored secret that
// no longer opens asks for the secret again rather than failing the save.
func (s *WeComAuthenticators) sealSecret(secret, prevName string, a models.Authenticator) (string, error) {
	to := models.AuthenticatorSecret(a.Name)
	if secret != "" {
		return s.sealer.Seal(secret, to)
	}
	if a.SecretSealed == "" || (prevName == a.Name && !s.sealer.NeedsReseal(a.SecretSealed)) {
		return a.SecretSealed, nil
	}
	sealed, err := s.sealer.Reseal(a.SecretSealed, models.AuthenticatorSecret(prevName), to)
	if errors.Is(err, models.ErrUnseal) {
		return "", Invalid{"secret": "secret_unreadable"}
	}
	if err != nil {
		return "", fmt.Errorf("re-seal secret of authenticator %q: %w", a.Name, err)
	}
	return sealed, nil
}
