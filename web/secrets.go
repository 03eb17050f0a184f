package web

import (
	"context"
	"fmt"
	"log/slog"

	"gatehouse/models"
)

// PrepareSealedSecrets runs at start-up, after migrating, under the migration lock. It refuses a secret
// key that opens none of the WeCom secrets sealed in the database (a new or wrong key would make every
// WeCom sign-in fail with an unreadable secret), and re-seals values of the old format or sealed with a
// previous key, so that they are bound to their row and the previous key can be retired.
func PrepareSealedSecrets(ctx context.Context, s *models.Store, cfg Config, log *slog.Logger) error {
	sealer, err := models.NewSealer(cfg.SecretKey, cfg.PreviousKeys...)
	if err != nil {
		return err
	}
	st, err := s.ResealSecrets(ctx, sealer)
	if err != nil {
		return err
	}
	if st.WrongKey() {
		return &ConfigError{Var: "GATEHOUSE_SECRET_KEY", Reason: fmt.Sprintf("is not the key that sealed the %d WeCom secret(s) in the database (none opens): "+
			"set it (or the data dir's secret.key) back to that key, or, after a rotation, keep the old key in GATEHOUSE_SECRET_KEY_PREVIOUS", st.Sealed)}
	}
	for _, name := range st.Unreadable {
		log.Warn("the sealed WeCom secret of an authenticator does not open (tampered, copied from another row, or sealed with a key no longer configured): enter its Secret again",
			"authenticator", name)
	}
	if st.Resealed > 0 {
		log.Info("re-sealed secrets with the current secret key, bound to their rows", "count", st.Resealed)
	}
	return nil
}
