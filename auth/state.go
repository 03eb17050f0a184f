package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// ErrStateInvalid covers a missing, forged, expired, reused or foreign sign-in state.
var ErrStateInvalid = errors.New("sign-in state missing, forged, expired or already used")

// Flows a WeCom sign-in can take.
const (
	FlowInClient = "in_client" // WeCom client: OAuth authorize with snsapi_privateinfo
	FlowQR       = "qr"        // any other browser: wwlogin QR / one-click login
)

// Pending is a WeCom sign-in in progress, kept in the browser's state cookie rather than the
// database, so anonymous visitors cost no rows.
type Pending struct {
	State    string `json:"s"`
	Name     string `json:"n"` // authenticator
	Redirect string `json:"r"` // safe local target, or ""
	Flow     string `json:"f"`
	Auto     bool   `json:"a"` // started by auto login
	// Handoff is the hand-off this in-client sign-in finishes for a desktop (DESIGN.md §7), or 0.
	Handoff int64 `json:"h,omitempty"`
	Expires int64 `json:"e"`
}

const (
	stateCookie   = "gatehouse_wecom_state"
	statePath     = "/auth/wecom/"
	stateLifetime = 10 * time.Minute
	guardCookie   = "gatehouse_autologin"
	guardLifetime = 5 * time.Minute
)

// States issues and checks WeCom sign-in states.
type States struct {
	codec  *securecookie.SecureCookie
	secure bool
	now    func() time.Time
}

// NewStates builds the state cookie codec from two 32-byte keys derived from the secret key.
func NewStates(hashKey, blockKey []byte, secure bool, now func() time.Time) *States {
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(int(stateLifetime.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &States{codec: codec, secure: secure, now: now}
}

// Begin creates a state for p (filling State and Expires) and binds it to this browser.
func (s *States) Begin(w http.ResponseWriter, r *http.Request, p Pending) (Pending, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return p, err
	}
	p.State = hex.EncodeToString(b) // a-zA-Z0-9 only, 64 bytes: within WeCom's 128
	p.Expires = s.now().Add(stateLifetime).Unix()
	return p, s.put(w, r, stateCookie, p, int(stateLifetime.Seconds()))
}

// Take checks the returned state against this browser's cookie for authenticator name and clears the
// cookie whatever the result, so a state works once.
func (s *States) Take(w http.ResponseWriter, r *http.Request, name, state string) (Pending, error) {
	var p Pending
	if !s.read(r, stateCookie, &p) {
		s.drop(w, r, stateCookie)
		return Pending{}, ErrStateInvalid
	}
	s.drop(w, r, stateCookie)
	ok := p.Name == name && s.now().Unix() < p.Expires && len(state) == len(p.State) &&
		subtle.ConstantTimeCompare([]byte(state), []byte(p.State)) == 1
	if !ok {
		return p, ErrStateInvalid
	}
	return p, nil
}

// Clear deletes this browser's state cookie, for a callback that ends before the state is checked
// (an authenticator that is gone or disabled): a state is never left behind to be tried again.
func (s *States) Clear(w http.ResponseWriter, r *http.Request) { s.drop(w, r, stateCookie) }

// put seals v into cookie name (under /auth/wecom/) for maxAge seconds.
func (s *States) put(w http.ResponseWriter, r *http.Request, name string, v any, maxAge int) error {
	enc, err := s.codec.Encode(name, v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	http.SetCookie(w, s.cookie(r, name, statePath, enc, maxAge))
	return nil
}

// read opens cookie name into v; false when it is missing, forged or sealed with other keys.
func (s *States) read(r *http.Request, name string, v any) bool {
	c, err := r.Cookie(name)
	return err == nil && s.codec.Decode(name, c.Value, v) == nil
}

// drop deletes cookie name (under /auth/wecom/) when the browser sent it.
func (s *States) drop(w http.ResponseWriter, r *http.Request, name string) {
	if _, err := r.Cookie(name); err == nil {
		http.SetCookie(w, s.cookie(r, name, statePath, "", -1))
	}
}

func (s *States) cookie(r *http.Request, name, path, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure || IsHTTPS(r), SameSite: http.SameSiteLaxMode}
}

// Guard is the auto-login loop guard: while it is set, the browser is not sent to WeCom automatically
// again. Its value is the outcome of the failed round ("pending" while a round is under way).
func (s *States) Guard(r *http.Request) (string, bool) {
	c, err := r.Cookie(guardCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// SetGuard sets the loop guard for five minutes with the round's state or outcome.
func (s *States) SetGuard(w http.ResponseWriter, r *http.Request, outcome string) {
	http.SetCookie(w, s.cookie(r, guardCookie, "/", outcome, int(guardLifetime.Seconds())))
}

// ClearGuard removes the loop guard after a successful sign-in.
func (s *States) ClearGuard(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.Guard(r); ok {
		http.SetCookie(w, s.cookie(r, guardCookie, "/", "", -1))
	}
}
