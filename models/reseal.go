package models

import (
	"context"
	"fmt"
)

// SealedState is what ResealSecrets found among the authenticators' sealed WeCom secrets.
type SealedState struct {
	Sealed     int      // authenticators with a sealed secret
	Unreadable []string // names of those whose secret no configured key opens (for their name)
	Resealed   int      // secrets and tokens re-sealed in the current format with the current key
}

// WrongKey tells whether no configured key opens any sealed secret: the deployment's secret key is not
// the one that sealed them.
func (st SealedState) WrongKey() bool { return st.Sealed > 0 && len(st.Unreadable) == st.Sealed }

// ResealSecrets re-seals every sealed value of an old format (v1) or sealed with a previous key, so the
// database holds only values bound to their row, sealed with the current key; it runs at start-up,
// under the migration lock, because migrations cannot see the secret key. A token that does not open
// is dropped (the cache fetches a new one); a secret that does not open is left as it is and reported.
// When no secret opens at all (WrongKey), nothing is changed.
func (s *Store) ResealSecrets(ctx context.Context, sealer *Sealer) (SealedState, error) {
	var st SealedState
	var auths []Authenticator
	if err := s.q(ctx).Where("secret_sealed <> ''").Order("id").Find(&auths).Error; err != nil {
		return st, fmt.Errorf("list sealed secrets: %w", err)
	}
	var stale []Authenticator
	for _, a := range auths {
		st.Sealed++
		if _, err := sealer.Open(a.SecretSealed, AuthenticatorSecret(a.Name)); err != nil {
			st.Unreadable = append(st.Unreadable, a.Name)
		} else if sealer.NeedsReseal(a.SecretSealed) {
			stale = append(stale, a)
		}
	}
	if st.WrongKey() {
		return st, nil // change nothing: the caller refuses to start
	}
	for _, a := range stale {
		f := AuthenticatorSecret(a.Name)
		sealed, err := sealer.Reseal(a.SecretSealed, f, f)
		if err != nil {
			return st, fmt.Errorf("re-seal secret of authenticator %q: %w", a.Name, err)
		}
		// Only if nobody changed it meanwhile (another instance, an admin's save).
		err = s.q(ctx).Model(&Authenticator{}).Where("id = ? AND secret_sealed = ?", a.ID, a.SecretSealed).
			UpdateColumn("secret_sealed", sealed).Error
		if err != nil {
			return st, fmt.Errorf("store re-sealed secret of authenticator %q: %w", a.Name, err)
		}
		st.Resealed++
	}
	if st.Resealed > 0 {
		s.changedAuthenticators()
	}
	n, err := s.resealTokens(ctx, sealer)
	st.Resealed += n
	if err != nil {
		return st, err
	}
	n, err = s.resealEventSettings(ctx, sealer)
	st.Resealed += n
	return st, err
}

func (s *Store) resealTokens(ctx context.Context, sealer *Sealer) (int, error) {
	var rows []WeComToken
	if err := s.q(ctx).Where("token_sealed <> ''").Find(&rows).Error; err != nil {
		return 0, fmt.Errorf("list sealed tokens: %w", err)
	}
	n := 0
	for _, r := range rows {
		if !sealer.NeedsReseal(r.TokenSealed) {
			continue
		}
		f := WeComTokenFor(r.CacheKey)
		sealed, err := sealer.Reseal(r.TokenSealed, f, f)
		if err != nil {
			sealed = "" // a cache entry: drop it, the next sign-in fetches a new token
		}
		err = s.q(ctx).Model(&WeComToken{}).Where("cache_key = ? AND token_sealed = ?", r.CacheKey, r.TokenSealed).
			UpdateColumn("token_sealed", sealed).Error
		if err != nil {
			return n, fmt.Errorf("store re-sealed token %s: %w", r.CacheKey, err)
		}
		n++
	}
	if n > 0 {
		s.tokenGen.Add(1) // forget this process's copies
	}
	return n, nil
}
