// Package wecomtest is a WeCom (企业微信) simulator: an http.Handler that serves, on one host,
// both WeCom's API (the qyapi host) and the two browser pages a sign-in passes through (the
// in-client OAuth authorize page and the wwlogin QR login page). Every test of Gatehouse and the
// app's demo mode run against it; shared/wecom-api.md is its specification.
//
// # API
//
//	GET  /cgi-bin/gettoken?corpid=&corpsecret=
//	GET  /cgi-bin/auth/getuserinfo?access_token=&code=
//	POST /cgi-bin/auth/getuserdetail?access_token=     {"user_ticket":"…"}
//	GET  /cgi-bin/user/get?access_token=&userid=
//	POST /cgi-bin/user/getuserid?access_token=         {"mobile":"…"}
//	GET  /cgi-bin/user/getuserinfo (legacy: PascalCase keys), POST /cgi-bin/user/getuserdetail (legacy)
//	GET  /cgi-bin/department/simplelist|list|get, GET /cgi-bin/tag/list|get, POST /cgi-bin/user/list_id
//
// The directory reads (directory.go) answer within the app's visible range: user/get carries status
// and only the departments the app may see, 60111 for a removed member, 60011 outside the range;
// departments keep a parentid outside the range; tag/get lists visible members only; user/list_id is
// refused (48002) for an app's token. SetRateLimit and SetConcurrencyLimit give 45009 and 45033;
// OnMemberChange tells hooks (event pushes) of every change a setter makes to a member.
//
// Replies are always HTTP 200 with errcode/errmsg in the body and Error-Code/Error-Msg headers;
// errmsg has the live format "<text>, hint: [<id>], from ip: <caller ip>, more info at …". Bad
// input draws the errcode WeCom would give, never a panic or a 500.
//
// # Browser pages
//
//	GET|POST /connect/oauth2/authorize?appid=&redirect_uri=&response_type=code&scope=&state=&agentid=
//	GET|POST /wwlogin/sso/login?login_type=CorpApp&appid=&agentid=&redirect_uri=&state=&lang=
//
// Each renders a small page where a person picks the member they are; the choice redirects (302)
// to redirect_uri with code and state inserted before any #fragment, or with state alone when the
// member refuses consent. Forms post to the page's own URL and the pages link to nothing
// absolute, so the simulator also works mounted under a prefix with http.StripPrefix.
//
// # Automatic mode
//
// For HTTP and browser tests, a page GET that carries the header X-WeCom-Sim-Member: <userid>
// or the cookie wecomsim_member=<userid> redirects at once as if that member had clicked Allow;
// adding X-WeCom-Sim-Action: refuse (or the cookie wecomsim_action=refuse) acts as Refuse. A
// userid that is not a member of the corp (for instance ExternalUser) signs in as a personal
// WeChat user: the code then yields an openid.
//
// # Choices where WeCom's behaviour is unverified
//
//   - Members whose Status is not 1 (disabled, not activated, left) cannot complete a page sign-in:
//     the page says so and no code is issued (IssueCode refuses them too).
//   - Consent applies to snsapi_privateinfo only; a RefuseConsent member gets no code there, but
//     snsapi_base and QR login (which ask for no consent) do issue one.
//   - A code is consumed by any exchange attempt that finds it, whether the exchange succeeds or
//     not. A code exchanged with a token of another corp answers 40029; with a token of another
//     app of the same corp, 301002 (the same for a user_ticket).
//   - gettoken returns the live token while it is valid, with expires_in set to its remaining
//     lifetime (WeCom documents "the same result"), so a cache never outlives it.
//   - A GET to a POST-only endpoint, or a body that is not JSON, answers 47001; a missing
//     user_ticket 84015; a missing corpid 41002; a missing userid 41009.
//   - The authorize page rejects a state outside [a-zA-Z0-9]{0,128}, to catch app bugs early.
//   - QR-login callbacks carry appid as an extra parameter, as WeCom's may.
package wecomtest
