package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
)

// EventWindow is how far an event's CreateTime may be from now: an older (or later) one changes
// nothing, and the record of an event seen is swept after twice this.
const EventWindow = 10 * time.Minute

// ErrNoEventSettings: the authenticator has no event Token and EncodingAESKey (or they no longer
// open with the deployment's keys), so it takes no events.
var ErrNoEventSettings = errors.New("authenticator has no event settings")

// Events receives WeCom's event callbacks of an authenticator (DESIGN.md §11): the URL check, then
// signed, encrypted events that cut a member off, let them back, or refresh what is known of them.
type Events struct {
	Store   *models.Store
	Sealer  *models.Sealer
	Members *Members
	// Refresh re-reads one member's departments and tags from WeCom (change_contact update_user and
	// update_tag). nil: nothing is refreshed here and the sweep catches up.
	Refresh func(ctx context.Context, a models.Authenticator, userid string) error
	Now     func() time.Time
	Log     *slog.Logger
}

// Crypto opens an authenticator's event settings.
func (e *Events) Crypto(a models.Authenticator) (*CallbackCrypto, error) {
	if !a.IsWeCom() || !a.HasEventSettings() {
		return nil, ErrNoEventSettings
	}
	token, err := e.Sealer.Open(a.EventTokenSealed, models.EventToken(a.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: token of %q: %v", ErrNoEventSettings, a.Name, err)
	}
	key, err := e.Sealer.Open(a.EventAESKeySealed, models.EventAESKey(a.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: key of %q: %v", ErrNoEventSettings, a.Name, err)
	}
	c, err := NewCallbackCrypto(token, key, a.Options.CorpID)
	if err != nil {
		return nil, fmt.Errorf("%w: key of %q: %v", ErrNoEventSettings, a.Name, err)
	}
	return c, nil
}

// URLCheck answers WeCom's GET check of the URL: the decrypted echostr, which is the whole reply.
func (e *Events) URLCheck(a models.Authenticator, sig, timestamp, nonce, echostr string) ([]byte, error) {
	c, err := e.Crypto(a)
	if err != nil {
		return nil, err
	}
	return c.VerifyURL(sig, timestamp, nonce, echostr)
}

// What Receive did with a genuine event.
const (
	OutcomeApplied   = "applied"
	OutcomeDuplicate = "duplicate" // seen before: a retry or a replay
	OutcomeStale     = "stale"     // CreateTime outside EventWindow
	OutcomeIgnored   = "ignored"   // a message or event Gatehouse does not act on
)

// Received is what Receive made of a verified event.
type Received struct {
	Outcome string
	Event   string // "unsubscribe", "change_contact/delete_user", …
	Member  string // the userid (or "tag:<id>")
}

// Receive verifies a POSTed event and applies it once. A *CallbackError is the caller's fault (4xx);
// ErrNoEventSettings means the authenticator takes no events; any other error is Gatehouse's, and
// the event is not recorded as seen, so WeCom's retry applies it.
func (e *Events) Receive(ctx context.Context, a models.Authenticator, sig, timestamp, nonce string, body []byte) (Received, error) {
	c, err := e.Crypto(a)
	if err != nil {
		return Received{}, err
	}
	plain, err := c.DecryptPost(sig, timestamp, nonce, body)
	if err != nil {
		return Received{}, err
	}
	m, err := ParseMessage(plain)
	if err != nil {
		return Received{}, err
	}
	if m.ToUserName != "" && strings.TrimSpace(m.ToUserName) != a.Options.CorpID {
		return Received{}, ErrWrongReceiver
	}
	r := Received{Outcome: OutcomeIgnored, Event: m.Event}
	switch {
	case m.MsgType != "event":
		return r, nil
	case m.Event == "subscribe" || m.Event == "unsubscribe":
		r.Member = m.FromUserName
	case m.Event == "change_contact" && (m.ChangeType == "delete_user" || m.ChangeType == "update_user"):
		r.Event, r.Member = m.Event+"/"+m.ChangeType, m.UserID
	case m.Event == "change_contact" && m.ChangeType == "update_tag":
		r.Event, r.Member = m.Event+"/"+m.ChangeType, "tag:"+m.TagID
	default:
		return r, nil
	}
	if r.Member == "" || r.Member == "tag:" || len(r.Member) > 128 {
		return r, ErrBadXML
	}
	now := e.Now()
	if d := now.Sub(time.Unix(m.CreateTime, 0)); d > EventWindow || d < -EventWindow {
		r.Outcome = OutcomeStale
		return r, nil
	}
	seen := models.DirectoryEvent{AuthenticatorID: a.ID, Member: r.Member, Event: r.Event, CreateTime: m.CreateTime, SeenAt: now}
	fresh, err := e.Store.ClaimEvent(ctx, seen)
	if err != nil {
		return r, err
	}
	if !fresh {
		r.Outcome = OutcomeDuplicate
		return r, nil
	}
	if err := e.apply(ctx, a, m); err != nil {
		if rerr := e.Store.ReleaseEvent(context.WithoutCancel(ctx), seen); rerr != nil {
			e.Log.Error("release event claim", "authenticator", a.Name, "event", r.Event, "err", rerr)
		}
		return r, err
	}
	if _, err := e.Store.SweepEvents(ctx, now.Add(-2*EventWindow)); err != nil {
		e.Log.Warn("sweep seen events", "err", err)
	}
	r.Outcome = OutcomeApplied
	return r, nil
}

// apply acts on one verified, fresh event (wecom-directory.md §6). unsubscribe does not say whether
// the member left, was disabled or left the visible range: "unavailable" covers all three.
func (e *Events) apply(ctx context.Context, a models.Authenticator, m Message) error {
	switch m.Event + "/" + m.ChangeType {
	case "unsubscribe/":
		_, err := e.Members.Left(ctx, a, m.FromUserName, models.MemberUnavailable, SourceEvent)
		return err
	case "subscribe/":
		_, err := e.Members.Back(ctx, a, m.FromUserName, SourceEvent)
		return err
	case "change_contact/delete_user":
		_, err := e.Members.Left(ctx, a, m.UserID, models.MemberLeft, SourceEvent)
		return err
	case "change_contact/update_user":
		// Full-field contacts-sync callbacks carry Status when it changed; reduced ones (after
		// 2022-08-15) only departments and userid.
		switch status, _ := strconv.Atoi(m.Status); status {
		case models.MemberDisabled, models.MemberLeft:
			_, err := e.Members.Left(ctx, a, m.UserID, status, SourceEvent)
			return err
		case models.MemberActive:
			if _, err := e.Members.Back(ctx, a, m.UserID, SourceEvent); err != nil {
				return err
			}
		}
		return e.refresh(ctx, a, m.UserID)
	case "change_contact/update_tag":
		for _, list := range []string{m.AddUserItems, m.DelUserItems} {
			for _, id := range strings.Split(list, ",") {
				if id = strings.TrimSpace(id); id != "" {
					if err := e.refresh(ctx, a, id); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (e *Events) refresh(ctx context.Context, a models.Authenticator, userid string) error {
	if e.Refresh == nil {
		return nil
	}
	if err := e.Refresh(ctx, a, userid); err != nil {
		return fmt.Errorf("refresh %q at %q: %w", userid, a.Name, err)
	}
	return nil
}
