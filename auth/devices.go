package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/securecookie"
)

// DeviceCookie names the browser's device cookie: which accounts signed in successfully on it, so
// that its password attempts use an allowance of their own, which strangers cannot use up (DESIGN.md §6).
const DeviceCookie = "gatehouse_device"

// deviceLifetime is how long a browser stays known without signing in again.
const deviceLifetime = 365 * 24 * time.Hour

// maxDeviceAccounts bounds the cookie: the accounts signed in to most recently are kept.
const maxDeviceAccounts = 8

// Device is what a device cookie says: a random id and the usernames signed in to on the browser.
type Device struct {
	ID       string
	Accounts []string
}

// Knows tells whether the browser signed in to username before.
func (d Device) Knows(username string) bool {
	return d.ID != "" && slices.Contains(d.Accounts, username)
}

// Devices reads and writes device cookies, signed and encrypted with keys derived from the secret
// key, so a browser cannot name an account it never signed in to.
type Devices struct {
	codec  *securecookie.SecureCookie
	secure bool
}

// NewDevices builds the codec; nil keys mean random ones (cookies then last until a restart).
func NewDevices(hashKey, blockKey []byte, secure bool) *Devices {
	if hashKey == nil || blockKey == nil {
		hashKey, blockKey = securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)
	}
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(int(deviceLifetime.Seconds()))
	return &Devices{codec: codec, secure: secure}
}

// Read returns the request's device, or the zero Device when the cookie is missing, forged or expired.
func (d *Devices) Read(r *http.Request) Device {
	c, err := r.Cookie(DeviceCookie)
	if err != nil {
		return Device{}
	}
	var dev Device
	if d.codec.Decode(DeviceCookie, c.Value, &dev) != nil {
		return Device{}
	}
	return dev
}

// Remember records on the browser that username signed in on it, keeping the device's id.
func (d *Devices) Remember(w http.ResponseWriter, r *http.Request, username string) error {
	dev := d.Read(r)
	if dev.ID == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("random device id: %w", err)
		}
		dev.ID = hex.EncodeToString(b)
	}
	accounts := []string{username}
	for _, a := range dev.Accounts {
		if a != username && len(accounts) < maxDeviceAccounts {
			accounts = append(accounts, a)
		}
	}
	dev.Accounts = accounts
	v, err := d.codec.Encode(DeviceCookie, dev)
	if err != nil {
		return fmt.Errorf("encode device cookie: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: v, Path: "/", MaxAge: int(deviceLifetime.Seconds()),
		HttpOnly: true, Secure: d.secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return nil
}
