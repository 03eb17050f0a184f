package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"gatehouse/models"
)

// SessionCookie is the name of the session cookie (DESIGN.md §6).
const SessionCookie = "gatehouse_session"

// Keys of sessions.Session.Values. Only the session id goes into the cookie; the values live for one
// request and carry what the store loaded.
const (
	valueUser    = "user"    // models.User
	valueSession = "session" // models.Session
	valueNew     = "new"     // newSession: what Save must create
)

type newSession struct {
	userID          int64
	authenticatorID int64
	ip              string
	revoke          string                    // hashed id of the browser's previous session, or ""
	also            func(*models.Store) error // more writes of the sign-in, in the same transaction
}

// Sessions is a gorilla/sessions Store backed by the sessions table: the cookie holds only a random
// 256-bit id (signed and encrypted), the table holds its SHA-256 hash, so a leaked database row cannot
// be replayed as a cookie.
type Sessions struct {
	store  *models.Store
	codecs []securecookie.Codec
	idle   time.Duration
	max    time.Duration
	secure bool
	// domain is the cookie's Domain (GATEHOUSE_COOKIE_DOMAIN), so that forward-auth checks from every
	// app's subdomain carry it; "" keeps the cookie on Gatehouse's own host.
	domain string
	now    func() time.Time
}

// NewSessions builds the store. hashKey and blockKey are 32-byte keys derived from the secret key;
// secure sets the cookie's Secure flag (the public origin is https).
func NewSessions(store *models.Store, hashKey, blockKey []byte, idle, max time.Duration, secure bool, now func() time.Time) *Sessions {
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(int(max.Seconds()))
	return &Sessions{store: store, codecs: []securecookie.Codec{codec}, idle: idle, max: max, secure: secure, now: now}
}

// WithDomain sets the session cookie's Domain (GATEHOUSE_COOKIE_DOMAIN; "" for none).
func (s *Sessions) WithDomain(domain string) *Sessions {
	s.domain = domain
	return s
}

func (s *Sessions) options(r *http.Request) *sessions.Options {
	return &sessions.Options{
		Path:     "/",
		Domain:   s.domain,
		MaxAge:   int(s.max.Seconds()),
		HttpOnly: true,
		Secure:   s.secure || IsHTTPS(r), // configured https origin, TLS here, or a trusted TLS proxy
		SameSite: http.SameSiteLaxMode,   // Strict would drop the cookie on the redirect back from WeCom
	}
}

// Get returns the request's session, loading it once per request.
func (s *Sessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new empty one when there is no
// cookie or it names no live session. A database error is returned so the caller can answer 503.
func (s *Sessions) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options(r)
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if securecookie.DecodeMulti(name, c.Value, &id, s.codecs...) != nil {
		return sess, nil // forged, expired or from an old key: simply not signed in
	}
	now := s.now()
	hash := hashID(id)
	row, user, err := s.store.ActiveSession(r.Context(), hash, now)
	if errors.Is(err, models.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	if user.Disabled || now.Sub(row.CreatedAt) >= s.max {
		return sess, nil
	}
	// Slide the idle expiry, but write at most once a minute per session.
	if now.Sub(row.LastSeenAt) >= time.Minute {
		if err := s.store.TouchSession(r.Context(), hash, now, s.expiry(row.CreatedAt, now)); err != nil {
			return sess, err
		}
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[valueUser] = user
	sess.Values[valueSession] = row
	return sess, nil
}

func (s *Sessions) expiry(created, now time.Time) time.Time {
	idle, abs := now.Add(s.idle), created.Add(s.max)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// Save writes the cookie. A session with MaxAge < 0 is revoked and its cookie deleted; a session
// prepared by Issue gets its row created first.
func (s *Sessions) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.store.RevokeSession(r.Context(), hashID(sess.ID), s.now()); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if ns, ok := sess.Values[valueNew].(newSession); ok {
		id, err := randomID()
		if err != nil {
			return err
		}
		now := s.now()
		row := models.Session{ID: hashID(id), UserID: ns.userID, CreatedAt: now, LastSeenAt: now,
			ExpiresAt: s.expiry(now, now), UserAgent: truncate(r.UserAgent(), 512), IP: ns.ip}
		if ns.authenticatorID != 0 {
			row.AuthenticatorID = &ns.authenticatorID
		}
		// One transaction for the whole sign-in: one commit (one WAL flush) instead of one per write.
		err = s.store.InTx(r.Context(), func(tx *models.Store) error {
			if ns.revoke != "" {
				if err := tx.RevokeSession(r.Context(), ns.revoke, now); err != nil {
					return err
				}
			}
			if err := tx.CreateSession(r.Context(), &row); err != nil {
				return err
			}
			if ns.also != nil {
				return ns.also(tx)
			}
			return nil
		})
		if err != nil {
			return err
		}
		delete(sess.Values, valueNew)
		sess.ID = id
		sess.Values[valueSession] = row
	}
	if sess.ID == "" {
		return nil
	}
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return fmt.Errorf("encode session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// Current returns the signed-in user and session of the request, if any.
func (s *Sessions) Current(r *http.Request) (models.User, models.Session, bool, error) {
	sess, err := s.Get(r, SessionCookie)
	if err != nil {
		return models.User{}, models.Session{}, false, err
	}
	u, ok := sess.Values[valueUser].(models.User)
	row, _ := sess.Values[valueSession].(models.Session)
	return u, row, ok, nil
}

// Issue signs user in on this browser with a brand-new session id. Whatever session the browser had
// before is revoked, so a session id planted before sign-in is never accepted afterwards. ip is the
// client's address as the router resolved it (trusted proxies applied); also, when not nil, makes
// the sign-in's other writes (audit, last sign-in) in the same transaction as the session.
func (s *Sessions) Issue(w http.ResponseWriter, r *http.Request, userID, authenticatorID int64, ip string, also func(*models.Store) error) error {
	ns := newSession{userID: userID, authenticatorID: authenticatorID, ip: ip, also: also}
	if old, err := s.Get(r, SessionCookie); err == nil && old.ID != "" {
		ns.revoke = hashID(old.ID)
	}
	sess := sessions.NewSession(s, SessionCookie)
	sess.Options = s.options(r)
	sess.IsNew = true
	sess.Values[valueNew] = ns
	return s.Save(r, w, sess)
}

// Revoke signs the browser out: the session row is revoked and the cookie deleted.
func (s *Sessions) Revoke(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.Get(r, SessionCookie)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	return s.Save(r, w, sess)
}

// RevokeOthers ends every session of the user except the current one.
func (s *Sessions) RevokeOthers(ctx context.Context, userID int64, current models.Session) (int64, error) {
	return s.store.RevokeUserSessions(ctx, userID, current.ID, s.now())
}

func randomID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// truncate cuts s to at most n characters of valid UTF-8 without NUL, so it fits a varchar(n) column on
// both databases (a byte-wise cut could split a character and fail the INSERT).
func truncate(s string, n int) string { return models.TruncateText(s, n) }
