package auth

import (
	"context"
	"net/http"
)

type httpsKey struct{}

// WithHTTPS marks r as reached over https although it arrived here in plain HTTP: a trusted TLS proxy
// said so (X-Forwarded-Proto). Cookies set while answering it are Secure. Only the web middleware that
// checks the proxy calls this.
func WithHTTPS(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), httpsKey{}, true))
}

// IsHTTPS reports whether the browser reached r over https: TLS on this connection, or a trusted
// proxy's word (WithHTTPS).
func IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	v, _ := r.Context().Value(httpsKey{}).(bool)
	return v
}
