// Package wecom is Gatehouse's client for WeCom (企业微信) sign-in: the API calls a self-built app
// needs (gettoken, auth/getuserinfo, auth/getuserdetail, user/get, user/getuserid), a shared
// access_token cache with refresh-once and busy-retry rules, typed errors keyed by errcode, the
// browser URL builders and User-Agent detection. shared/wecom-api.md is its specification.
package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

const (
	// callTimeout bounds every public call, retries and token refresh included, so a slow WeCom
	// turns into an error page within the app's 6 s budget.
	callTimeout = 5 * time.Second
	// maxReplyBytes caps what is read from one reply; WeCom's replies are a few hundred bytes.
	maxReplyBytes = 1 << 20
	// defaultTokenLifetime applies when gettoken omits expires_in (WeCom documents 7200 s).
	defaultTokenLifetime = 7200 * time.Second
	// tokenSafetyMargin is how long before WeCom's expiry a cached token is treated as expired,
	// so a token never dies between the cache check and the call.
	tokenSafetyMargin = 5 * time.Minute
)

// UserInfo is the identity behind an OAuth code. Members have UserID; non-members (personal
// WeChat users) have OpenID and maybe ExternalUserID. UserTicket is set only for an in-client
// snsapi_privateinfo code of a member in the app's visible range. The struct reads both the
// current reply and the legacy PascalCase one (UserId, DeviceId, OpenId) of user/getuserinfo,
// because encoding/json matches keys case-insensitively.
type UserInfo struct {
	UserID         string `json:"userid"`
	OpenID         string `json:"openid"`
	ExternalUserID string `json:"external_userid"`
	UserTicket     string `json:"user_ticket"`
	DeviceID       string `json:"deviceid"`
}

// UserDetail is a member's sensitive detail from a user_ticket. Mobile, Email, BizMail and Address
// are empty unless the member consented and the admin allowed the app to read them.
type UserDetail struct {
	UserID  string `json:"userid"`
	Gender  string `json:"gender"` // "0" unknown, "1" male, "2" female: a JSON string on the wire
	Avatar  string `json:"avatar"`
	QRCode  string `json:"qr_code"`
	Mobile  string `json:"mobile"`
	Email   string `json:"email"`
	BizMail string `json:"biz_mail"`
	Address string `json:"address"`
}

// Member is a member as user/get returns it. Apps created after 2022-06-20 get no Mobile or Email.
type Member struct {
	UserID     string `json:"userid"`
	Name       string `json:"name"`
	Alias      string `json:"alias"`
	Position   string `json:"position"`
	Mobile     string `json:"mobile"`
	Email      string `json:"email"`
	Department []int  `json:"department"`
	Status     int    `json:"status"` // 1 active, 2 disabled, 4 not activated, 5 left
}

// Client calls WeCom for any number of apps, caching each app's access_token in a TokenCache.
// It is safe for concurrent use.
type Client struct {
	http    *http.Client
	cache   TokenCache
	flight  singleflight.Group // collapses concurrent cache misses for one key inside this process
	timeout time.Duration
	backoff []time.Duration // waits before each retry of errcode -1
	// breakers pause calls to an API host and corp that keeps failing, so members get the error page
	// at once instead of after another timeout, and a struggling WeCom is not hammered.
	breakers *breakers
}

// ClientOption changes a Client at construction.
type ClientOption func(*Client)

// WithBreaker tunes the circuit breaker (its metric hook, or shorter times in tests).
func WithBreaker(s BreakerSettings) ClientOption {
	return func(c *Client) { c.breakers = newBreakers(s) }
}

// NewClient returns a Client. A nil httpClient gets a client of its own that does not follow
// redirects (the API never redirects); a nil cache gets a MemoryCache. Every call is bounded by
// 5 s through its context.
func NewClient(httpClient *http.Client, cache TokenCache, opts ...ClientOption) *Client {
	if httpClient == nil {
		// Many sign-ins at once call one WeCom host: keep enough idle connections to it that they
		// are reused rather than redialled (the default keeps two per host).
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = 64
		httpClient = &http.Client{
			Transport:     transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cache == nil {
		cache = NewMemoryCache()
	}
	c := &Client{
		http:     httpClient,
		cache:    cache,
		timeout:  callTimeout,
		backoff:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		breakers: newBreakers(BreakerSettings{}),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// BreakerOpen reports whether calls to this API host (empty: WeCom's public one) and corp are paused
// after repeated failures.
func (c *Client) BreakerOpen(apiBase, corpID string) bool {
	return c.breakers.isOpen(breakerKey(apiBase, corpID))
}

// FetchToken calls gettoken now, bypassing the cache: the admin's connection test must prove
// the saved settings, not a token fetched with older ones. expiresIn is WeCom's own value. An open
// breaker does not stop it (the admin checks whether WeCom is back), but its result counts.
func (c *Client) FetchToken(ctx context.Context, cfg Config) (token string, expiresIn time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	token, expiresIn, err = c.fetchToken(ctx, cfg)
	c.breakers.record(breakerKey(cfg.APIBase, cfg.CorpID), false, err)
	return token, expiresIn, err
}

// UserInfo exchanges an OAuth code for the identity behind it (GET /cgi-bin/auth/getuserinfo).
// A code is single use: a failed exchange is never retried after 40029.
func (c *Client) UserInfo(ctx context.Context, cfg Config, code string) (UserInfo, error) {
	var info UserInfo
	err := c.call(ctx, cfg, "getuserinfo", http.MethodGet, "/cgi-bin/auth/getuserinfo", url.Values{"code": {code}}, nil, &info)
	return info, err
}

// UserDetail reads a member's sensitive detail with a user_ticket (POST /cgi-bin/auth/getuserdetail).
func (c *Client) UserDetail(ctx context.Context, cfg Config, userTicket string) (UserDetail, error) {
	var detail UserDetail
	body := map[string]string{"user_ticket": userTicket}
	err := c.call(ctx, cfg, "getuserdetail", http.MethodPost, "/cgi-bin/auth/getuserdetail", nil, body, &detail)
	return detail, err
}

// User reads a member (GET /cgi-bin/user/get).
func (c *Client) User(ctx context.Context, cfg Config, userID string) (Member, error) {
	var m Member
	err := c.call(ctx, cfg, "user/get", http.MethodGet, "/cgi-bin/user/get", url.Values{"userid": {userID}}, nil, &m)
	return m, err
}

// UserIDByMobile finds the member with this mobile among those the app can see
// (POST /cgi-bin/user/getuserid); 46004 when there is none. WeCom blocks the call for a day
// after too many unknown numbers, so use it sparingly.
func (c *Client) UserIDByMobile(ctx context.Context, cfg Config, mobile string) (string, error) {
	var reply struct {
		UserID string `json:"userid"`
	}
	body := map[string]string{"mobile": mobile}
	err := c.call(ctx, cfg, "getuserid", http.MethodPost, "/cgi-bin/user/getuserid", nil, body, &reply)
	return reply.UserID, err
}

// DropToken forgets the app's cached token, whatever it is (after its secret changed, say).
func (c *Client) DropToken(ctx context.Context, cfg Config) error {
	if err := c.cache.Drop(ctx, cfg.CacheKey(), ""); err != nil {
		return fmt.Errorf("wecom drop access_token for %s: %w", cfg.CorpID, err)
	}
	return nil
}

// call runs one data call with the app's cached token, unless the breaker of the app's host and corp
// is open: then it fails at once with CodeBreakerOpen.
func (c *Client) call(ctx context.Context, cfg Config, op, method, path string, query url.Values, body, out any) error {
	key := breakerKey(cfg.APIBase, cfg.CorpID)
	ok, probe := c.breakers.allow(key)
	if !ok {
		return &Error{Op: op, Code: CodeBreakerOpen}
	}
	err := c.callWithToken(ctx, cfg, op, method, path, query, body, out)
	c.breakers.record(key, probe, err)
	return err
}

// callWithToken runs one data call with the app's cached token. A token WeCom says is expired (42001)
// or invalid (40014) is dropped, and the call retried once with a new one.
func (c *Client) callWithToken(ctx context.Context, cfg Config, op, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		token, err := c.token(ctx, cfg)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("access_token", token)
		err = c.roundTrip(ctx, op, method, cfg.endpoint(path), q, body, out, token)
		if code := CodeOf(err); (code == 40014 || code == 42001) && attempt == 0 {
			if err := c.cache.Drop(ctx, cfg.CacheKey(), token); err != nil {
				return fmt.Errorf("wecom %s: drop stale access_token: %w", op, err)
			}
			continue
		}
		return err
	}
}

// token returns the app's access_token from the cache. Concurrent misses for one key in this
// process share one trip to the cache (and so at most one gettoken); the cache itself keeps
// other instances from fetching at the same time.
func (c *Client) token(ctx context.Context, cfg Config) (string, error) {
	key := cfg.CacheKey()
	ch := c.flight.DoChan(key, func() (any, error) {
		// The fetch serves every waiter, so one waiter giving up must not cancel it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return c.cache.Token(ctx, key, func(ctx context.Context) (string, time.Duration, error) {
			token, expiresIn, err := c.fetchToken(ctx, cfg)
			if err != nil {
				return "", 0, err
			}
			return token, cacheLifetime(expiresIn), nil
		})
	})
	select {
	case <-ctx.Done():
		return "", &Error{Op: "gettoken", Code: CodeUnreachable, cause: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			var we *Error
			if errors.As(res.Err, &we) {
				return "", res.Err
			}
			return "", fmt.Errorf("wecom access_token cache: %w", res.Err)
		}
		return res.Val.(string), nil
	}
}

// cacheLifetime is how long a token may be served from the cache: WeCom's lifetime less a safety
// margin of 5 minutes, or of 10% when that is shorter (short-lived tokens in tests).
func cacheLifetime(expiresIn time.Duration) time.Duration {
	margin := min(tokenSafetyMargin, expiresIn/10)
	return expiresIn - margin
}

func (c *Client) fetchToken(ctx context.Context, cfg Config) (string, time.Duration, error) {
	var reply struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	q := url.Values{"corpid": {cfg.CorpID}, "corpsecret": {cfg.Secret}}
	if err := c.roundTrip(ctx, "gettoken", http.MethodGet, cfg.endpoint("/cgi-bin/gettoken"), q, nil, &reply, cfg.Secret); err != nil {
		return "", 0, err
	}
	if reply.AccessToken == "" {
		return "", 0, &Error{Op: "gettoken", Code: CodeBadResponse, cause: errors.New("reply has no access_token")}
	}
	expiresIn := time.Duration(reply.ExpiresIn) * time.Second
	if expiresIn <= 0 {
		expiresIn = defaultTokenLifetime
	}
	return reply.AccessToken, expiresIn, nil
}

// roundTrip sends one request, retrying while WeCom answers -1 (system busy) with growing pauses.
// Every other errcode is final. secrets are values that must never reach an error's text.
func (c *Client) roundTrip(ctx context.Context, op, method, endpoint string, query url.Values, body, out any, secrets ...string) error {
	for retry := 0; ; retry++ {
		err := c.do(ctx, op, method, endpoint, query, body, out, secrets)
		if CodeOf(err) != -1 || retry == len(c.backoff) {
			return err
		}
		pause := time.NewTimer(c.backoff[retry])
		select {
		case <-ctx.Done():
			pause.Stop()
			return &Error{Op: op, Code: CodeUnreachable, cause: ctx.Err()}
		case <-pause.C:
		}
	}
}

func (c *Client) do(ctx context.Context, op, method, endpoint string, query url.Values, body, out any, secrets []string) error {
	var reqBody io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("wecom %s: encode request: %w", op, err)
		}
		reqBody = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint+"?"+query.Encode(), reqBody)
	if err != nil {
		// The parse error would quote the URL, query and all.
		return &Error{Op: op, Code: CodeUnreachable, cause: errors.New("invalid API base URL")}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(op, err, secrets)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return transportError(op, err, secrets)
	}
	if resp.StatusCode != http.StatusOK {
		return &Error{Op: op, Code: CodeBadResponse, cause: fmt.Errorf("HTTP status %d", resp.StatusCode)}
	}
	// errmsg is read only for the caller IP; its text changes and is never kept.
	var status struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &status); err != nil {
		return &Error{Op: op, Code: CodeBadResponse, cause: errors.New("reply is not a JSON object")}
	}
	if status.ErrCode != 0 {
		return &Error{Op: op, Code: status.ErrCode, FromIP: parseFromIP(status.ErrMsg)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Op: op, Code: CodeBadResponse, cause: fmt.Errorf("decode reply: %w", err)}
	}
	return nil
}

// transportError turns a failed HTTP exchange into an Error. net/http wraps failures in a
// *url.Error whose text is the whole URL, corpsecret or access_token included: only its cause
// is kept, and even that is withheld if it names a credential.
func transportError(op string, err error, secrets []string) *Error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Op: op, Code: CodeUnreachable, cause: context.DeadlineExceeded}
	case errors.Is(err, context.Canceled):
		return &Error{Op: op, Code: CodeUnreachable, cause: context.Canceled}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			err = errors.New("request failed (detail withheld: it named a credential)")
			break
		}
	}
	return &Error{Op: op, Code: CodeUnreachable, cause: err}
}
