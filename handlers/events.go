package handlers

import (
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/directory"
	"gatehouse/models"
)

// EventsRoute is the WeCom events endpoint (DESIGN.md §11), and EventMaxBody the largest body it reads
// (WeCom's events are a few hundred bytes).
const (
	EventsRoute  = "/auth/wecom/:name/events"
	EventMaxBody = 1 << 20
)

// WeComEvents is the app's 接收消息 URL: GET is WeCom's URL check (the decrypted echostr, exactly, as
// text), POST an encrypted event, answered 200 with an empty body once applied (or seen before, or
// stale: WeCom must stop retrying, and nothing changes). Every refusal is a 4xx and an audit row,
// without the signature, the ciphertext or the echostr.
func (h *Handlers) WeComEvents(c *gin.Context) {
	a, err := h.Store.EnabledAuthenticatorByName(c.Request.Context(), c.Param("name"))
	if errors.Is(err, models.ErrNotFound) || (err == nil && !a.IsWeCom()) {
		h.refuseEvent(c, c.Param("name"), http.StatusNotFound, "unknown_authenticator", nil)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	q := c.Request.URL.Query() // URL-decoded, as WeCom requires of the echostr
	if c.Request.Method == http.MethodGet {
		msg, err := h.Events.URLCheck(a, q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
		if err != nil {
			h.eventFailed(c, a, err, nil)
			return
		}
		c.Data(http.StatusOK, "text/plain; charset=utf-8", msg)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			h.refuseEvent(c, a.Name, http.StatusRequestEntityTooLarge, "too_large", nil)
		} else {
			h.refuseEvent(c, a.Name, http.StatusBadRequest, "unreadable_body", nil)
		}
		return
	}
	r, err := h.Events.Receive(c.Request.Context(), a, q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	if err != nil {
		h.eventFailed(c, a, err, nil)
		return
	}
	if r.Outcome == directory.OutcomeDuplicate || r.Outcome == directory.OutcomeStale {
		// Answered 200 so that WeCom stops retrying; audited, and nothing changed.
		h.auditEventRefusal(c, a.Name, r.Outcome, map[string]any{"event": r.Event, "wecom_userid": r.Member})
	}
	c.Status(http.StatusOK)
}

// eventFailed answers an error of the events endpoint: a refusal (4xx, audited) or Gatehouse's own
// failure (5xx, so WeCom retries).
func (h *Handlers) eventFailed(c *gin.Context, a models.Authenticator, err error, detail map[string]any) {
	var ce *directory.CallbackError
	switch {
	case errors.Is(err, directory.ErrNoEventSettings):
		if err != directory.ErrNoEventSettings { // stored, but no configured key opens them
			h.Log.Warn("event settings unreadable", "authenticator", a.Name, "err", err)
		}
		h.refuseEvent(c, a.Name, http.StatusNotFound, "no_settings", detail)
	case errors.As(err, &ce):
		status := http.StatusBadRequest
		if ce == directory.ErrBadSignature || ce == directory.ErrWrongReceiver {
			status = http.StatusForbidden
		}
		h.refuseEvent(c, a.Name, status, ce.Reason, detail)
	default:
		h.fail(c, err)
	}
}

// refuseEvent answers a refused event call with a bare status and audits it (under the anonymous cap).
func (h *Handlers) refuseEvent(c *gin.Context, authenticator string, status int, reason string, detail map[string]any) {
	h.auditEventRefusal(c, authenticator, reason, detail)
	c.String(status, http.StatusText(status))
	c.Abort()
}

func (h *Handlers) auditEventRefusal(c *gin.Context, authenticator, reason string, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["reason"], detail["method"] = reason, c.Request.Method
	h.audit(c, models.Event{Action: models.ActionEventRefused, Target: authenticator, Authenticator: models.TruncateText(authenticator, 64),
		Outcome: reason, Detail: detail})
}

// eventTooLarge answers a body over EventMaxBody refused before the handler ran (see TooLarge).
func (h *Handlers) eventTooLarge(c *gin.Context) bool {
	if c.FullPath() != EventsRoute {
		return false
	}
	h.refuseEvent(c, c.Param("name"), http.StatusRequestEntityTooLarge, "too_large", nil)
	return true
}
