package wecomtest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WeCom's event callbacks (wecom-directory.md §5, §6): when a member leaves, is disabled or leaves an
// app's visible range (or comes back), the simulator POSTs a signed, encrypted subscribe/unsubscribe
// event to the app's 接收消息 URL, and change_contact to a contacts-sync URL when one is set, retrying
// a failed delivery a bounded number of times, one delivery at a time in order. The crypto is written
// here on its own, from the facts file, so that Gatehouse's is checked against a second implementation.

// Demo event settings: the demo app's 接收消息 Token and EncodingAESKey.
const (
	DemoEventToken  = "GatehouseDemoToken"
	DemoEventAESKey = "R2F0ZWhvdXNlRGVtb0VuY29kaW5nQUVTS2V5MDEyMzQ"
)

// EventConfig is an app's event callback settings.
type EventConfig struct {
	URL    string // the app's 接收消息 URL: subscribe / unsubscribe
	Token  string
	AESKey string // EncodingAESKey, 43 characters
	// ContactsURL receives change_contact (the contacts-sync assistant's receive-event server); ""
	// sends none. It uses the same Token and key.
	ContactsURL string
	// ContactsReduced words change_contact as for URLs set after 2022-08-15: update_user only on a
	// department or userid change, so a disabled member sends none.
	ContactsReduced bool
}

// Push is one event delivery, as the simulator's log keeps it.
type Push struct {
	URL      string
	Event    string // "unsubscribe", "subscribe", "change_contact/delete_user", …
	UserID   string
	Attempts int
	Status   int    // HTTP status of the last attempt (0: no answer)
	Err      string // the last attempt's error, if any
	Queued   time.Time
	Done     time.Time // zero while pending
}

// Delivered tells whether WeCom would count the push as received (HTTP 200).
func (p Push) Delivered() bool { return p.Status == http.StatusOK }

// pushTimeout and pushRetries are WeCom's: no answer within 5 s drops the connection, and a delivery
// is tried again three times.
const (
	pushTimeout = 5 * time.Second
	pushRetries = 3
)

type eventState struct {
	mu      sync.Mutex
	configs map[appKey]EventConfig
	client  *http.Client
	wait    time.Duration // between attempts
	queue   []*pushJob
	log     []*Push
	running bool
	idle    *sync.Cond
}

type pushJob struct {
	push          *Push
	token, aesKey string
	corpID        string
	agentID       string
	body          []byte
}

// events returns the simulator's event state, made on first use.
func (s *Sim) events() *eventState {
	s.evOnce.Do(func() {
		s.ev = &eventState{configs: make(map[appKey]EventConfig), client: &http.Client{Timeout: pushTimeout}, wait: time.Second}
		s.ev.idle = sync.NewCond(&s.ev.mu)
	})
	return s.ev
}

// WithPushClient sends event pushes with c (demo mode delivers them in-process).
func WithPushClient(c *http.Client) Option {
	return func(s *Sim) { s.SetPushClient(c) }
}

// SetPushClient sends event pushes with c.
func (s *Sim) SetPushClient(c *http.Client) {
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.client = c
}

// SetPushRetryWait sets the pause between attempts of a failed delivery (default 1 s).
func (s *Sim) SetPushRetryWait(d time.Duration) {
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.wait = d
}

// SetEventConfig sets (or, with a zero EventConfig, removes) an app's event callback.
func (s *Sim) SetEventConfig(corpID string, agentID int64, cfg EventConfig) error {
	if cfg.URL != "" || cfg.ContactsURL != "" {
		if len(cfg.AESKey) != 43 {
			return fmt.Errorf("wecomtest: EncodingAESKey must be 43 characters")
		}
		if _, err := simAESKey(cfg.AESKey); err != nil {
			return err
		}
		if cfg.Token == "" {
			return errors.New("wecomtest: event callback without a Token")
		}
	}
	s.mu.Lock()
	c, ok := s.corps[corpID]
	_, app := c.app(agentID)
	s.mu.Unlock()
	if !ok || !app {
		return fmt.Errorf("wecomtest: corp %s has no app %d", corpID, agentID)
	}
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if cfg == (EventConfig{}) {
		delete(ev.configs, appKey{corpID, agentID})
	} else {
		ev.configs[appKey{corpID, agentID}] = cfg
	}
	return nil
}

// CheckEventURL does what WeCom does when an app's 接收消息 URL is saved: a GET with an encrypted
// echostr, which must be answered within 1 s with exactly the decrypted text (else 40057).
func (s *Sim) CheckEventURL(ctx context.Context, corpID string, agentID int64) error {
	ev := s.events()
	ev.mu.Lock()
	cfg, ok := ev.configs[appKey{corpID, agentID}]
	client := ev.client
	ev.mu.Unlock()
	if !ok || cfg.URL == "" {
		return fmt.Errorf("wecomtest: app %d of %s has no event URL", agentID, corpID)
	}
	want := strconv.FormatInt(time.Now().UnixNano(), 10)
	echostr, err := simEncrypt(cfg.AESKey, corpID, []byte(want))
	if err != nil {
		return err
	}
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), randomDigits()
	q := url.Values{"msg_signature": {simSignature(cfg.Token, ts, nonce, echostr)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echostr}}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, withQuery(cfg.URL, q), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("wecomtest: 40057 URL check: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || string(body) != want {
		return fmt.Errorf("wecomtest: 40057 URL check answered %d %q, want %q", resp.StatusCode, body, want)
	}
	return nil
}

// Pushes returns a copy of every delivery so far, oldest first.
func (s *Sim) Pushes() []Push {
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := make([]Push, len(ev.log))
	for i, p := range ev.log {
		out[i] = *p
	}
	return out
}

// WaitPushes waits until every queued delivery is done (delivered or given up).
func (s *Sim) WaitPushes() {
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for ev.running {
		ev.idle.Wait()
	}
}

// snapshot is what an app saw of a member before a change.
type snapshot struct {
	status    int
	available map[int64]bool // agent id → in the visible range and active
}

func memberSnapshot(c *corpState, m *Member) snapshot {
	sn := snapshot{status: m.Status, available: make(map[int64]bool)}
	for _, a := range c.Apps {
		sn.available[a.AgentID] = m.Status == 1 && m.visibleTo(a.AgentID)
	}
	return sn
}

// queueMemberEvents queues the events a change of m produces (s.mu held): subscribe / unsubscribe to
// each app whose view of the member changed (EVT: joins or leaves the company, is disabled, enters or
// leaves the visible range), change_contact to contacts-sync URLs.
func (s *Sim) queueMemberEvents(c *corpState, m *Member, before snapshot) {
	after := memberSnapshot(c, m)
	ev := s.events()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	now := s.now()
	for _, a := range c.Apps {
		cfg, ok := ev.configs[appKey{c.ID, a.AgentID}]
		if !ok {
			continue
		}
		agent := strconv.FormatInt(a.AgentID, 10)
		if cfg.URL != "" && before.available[a.AgentID] != after.available[a.AgentID] {
			event := "unsubscribe"
			if after.available[a.AgentID] {
				event = "subscribe"
			}
			msg := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><AgentID>%s</AgentID></xml>",
				c.ID, m.UserID, now.Unix(), event, agent)
			ev.enqueue(s, cfg, c.ID, agent, cfg.URL, event, m.UserID, msg, now)
		}
		if cfg.ContactsURL == "" || before.status == after.status {
			continue
		}
		var change, extra string
		switch {
		case after.status == 5:
			change = "delete_user"
		case !cfg.ContactsReduced:
			change, extra = "update_user", "<Status>"+strconv.Itoa(after.status)+"</Status>"
		default:
			continue // reduced callbacks say nothing of a status change
		}
		msg := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event><ChangeType>%s</ChangeType><UserID><![CDATA[%s]]></UserID>%s</xml>",
			c.ID, now.Unix(), change, m.UserID, extra)
		ev.enqueue(s, cfg, c.ID, "", cfg.ContactsURL, "change_contact/"+change, m.UserID, msg, now)
	}
}

// enqueue adds a delivery and starts the worker when idle (ev.mu held).
func (ev *eventState) enqueue(s *Sim, cfg EventConfig, corpID, agentID, target, event, userID, msg string, now time.Time) {
	p := &Push{URL: target, Event: event, UserID: userID, Queued: now}
	ev.log = append(ev.log, p)
	if len(ev.log) > 1000 { // a long demo keeps the latest deliveries only
		ev.log = slices.Clone(ev.log[len(ev.log)-1000:])
	}
	ev.queue = append(ev.queue, &pushJob{push: p, token: cfg.Token, aesKey: cfg.AESKey, corpID: corpID, agentID: agentID, body: []byte(msg)})
	if !ev.running {
		ev.running = true
		go ev.work(s)
	}
}

// work delivers the queue in order, then stops.
func (ev *eventState) work(s *Sim) {
	for {
		ev.mu.Lock()
		if len(ev.queue) == 0 {
			ev.running = false
			ev.idle.Broadcast()
			ev.mu.Unlock()
			return
		}
		job := ev.queue[0]
		ev.queue = ev.queue[1:]
		client, wait := ev.client, ev.wait
		ev.mu.Unlock()
		status, attempts, err := deliver(s, client, wait, job)
		ev.mu.Lock()
		job.push.Status, job.push.Attempts, job.push.Done = status, attempts, time.Now()
		if err != nil {
			job.push.Err = err.Error()
		}
		ev.mu.Unlock()
	}
}

// deliver POSTs one event, retrying up to pushRetries times after an error or a status other than 200.
func deliver(s *Sim, client *http.Client, wait time.Duration, job *pushJob) (status, attempts int, err error) {
	for attempts = 1; ; attempts++ {
		status, err = deliverOnce(s, client, job)
		if err == nil && status == http.StatusOK {
			return status, attempts, nil
		}
		if attempts > pushRetries {
			return status, attempts, err
		}
		time.Sleep(wait)
	}
}

func deliverOnce(s *Sim, client *http.Client, job *pushJob) (int, error) {
	enc, err := simEncrypt(job.aesKey, job.corpID, job.body)
	if err != nil {
		return 0, err
	}
	var env bytes.Buffer
	env.WriteString("<xml><ToUserName><![CDATA[" + job.corpID + "]]></ToUserName>")
	if job.agentID != "" {
		env.WriteString("<AgentID><![CDATA[" + job.agentID + "]]></AgentID>")
	}
	env.WriteString("<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), randomDigits()
	q := url.Values{"msg_signature": {simSignature(job.token, ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, withQuery(job.push.URL, q), &env)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func withQuery(target string, q url.Values) string {
	if strings.Contains(target, "?") {
		return target + "&" + q.Encode()
	}
	return target + "?" + q.Encode()
}

func randomDigits() string {
	b := make([]byte, 4)
	rand.Read(b)
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b)), 10)
}

// simSignature is msg_signature: sha1 over the four values sorted bytewise, lowercase hex.
func simSignature(token, timestamp, nonce, data string) string {
	parts := []string{token, timestamp, nonce, data}
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

func simAESKey(encodingAESKey string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("wecomtest: bad EncodingAESKey")
	}
	return key, nil
}

// simEncrypt is WeCom's encryption: random(16) ‖ len ‖ msg ‖ receiveid, PKCS#7 to 32 bytes,
// AES-256-CBC with IV = key[:16], base64.
func simEncrypt(encodingAESKey, receiveID string, msg []byte) (string, error) {
	key, err := simAESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 16, 20+len(msg)+len(receiveID)+32)
	rand.Read(plain)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(append(plain, msg...), receiveID...)
	pad := 32 - len(plain)%32
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}
