package apps

import (
	"fmt"
	"strings"

	"gatehouse/models"
)

// Snippet is a ready piece of configuration for another program, shown on an app's page with a copy
// button. The functions that make them are pure, so tests can run the very text the page shows.
type Snippet struct {
	// ID names the snippet ("grafana", "nginx", …): the page's data-testid and the key of its
	// translated title and note ("apps.snippet.<ID>.title", "….note").
	ID string
	// Lang is the configuration language, for the reader: "ini", "shell", "nginx", "caddyfile", "yaml", "env".
	Lang string
	Text string
}

// Scopes are the scopes the provider offers.
var Scopes = []string{"openid", "profile", "email", "phone", "groups", "offline_access"}

// The provider's endpoints under the issuer. They are zitadel/oidc's defaults; relying parties find
// them in the discovery document, and only the programs that cannot read it (Grafana's generic OAuth,
// Outline) are given them here.
const (
	DiscoveryPath    = "/.well-known/openid-configuration"
	AuthorizePath    = "/authorize"
	TokenPath        = "/oauth/token"
	UserinfoPath     = "/userinfo"
	EndSessionPath   = "/end_session"
	ProxyForwardPath = "/auth/proxy/forward"
	ProxyNginxPath   = "/auth/proxy/nginx"
)

// Placeholders in the snippets: where the admin pastes the secret shown once, and the app's own
// address behind the proxy (tests replace it with their upstream's).
const (
	SecretPlaceholder   = "PASTE-THE-CLIENT-SECRET"
	UpstreamPlaceholder = "127.0.0.1:3000"
)

// RemoteHeaders are the identity headers forward-auth answers with, in the order the snippets copy them.
var RemoteHeaders = []string{"Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups"}

// Issuer is the provider's issuer for a public origin (GATEHOUSE_BASE_URL), such as https://gate.example.
func Issuer(origin string) string { return strings.TrimRight(origin, "/") + "/oidc" }

// DiscoveryURL is where relying parties read the provider's configuration.
func DiscoveryURL(issuer string) string { return issuer + DiscoveryPath }

// firstRedirect is the app's first registered redirect URI, or an example of the program's own.
func firstRedirect(app models.App, example string) string {
	if len(app.RedirectURIs) > 0 {
		return app.RedirectURIs[0]
	}
	return example
}

// OIDCSnippets are ready configurations of common relying parties for an OIDC app: Grafana, Gitea,
// oauth2-proxy and Outline. A confidential client's secret is never known here: the text holds a
// placeholder where the admin pastes the secret shown once.
func OIDCSnippets(issuer string, app models.App) []Snippet {
	secret := SecretPlaceholder
	return []Snippet{
		{ID: "grafana", Lang: "ini", Text: grafanaSnippet(issuer, app, secret)},
		{ID: "gitea", Lang: "shell", Text: giteaSnippet(issuer, app, secret)},
		{ID: "oauth2-proxy", Lang: "shell", Text: oauth2ProxySnippet(issuer, app, secret)},
		{ID: "outline", Lang: "env", Text: outlineSnippet(issuer, app, secret)},
	}
}

func grafanaSnippet(issuer string, app models.App, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# grafana.ini (or GF_AUTH_GENERIC_OAUTH_* variables).\n")
	fmt.Fprintf(&b, "# Redirect URI to register: https://<grafana>/login/generic_oauth\n")
	fmt.Fprintf(&b, "[auth.generic_oauth]\n")
	fmt.Fprintf(&b, "enabled = true\n")
	fmt.Fprintf(&b, "name = %s\n", app.Title)
	fmt.Fprintf(&b, "allow_sign_up = true\n")
	fmt.Fprintf(&b, "client_id = %s\n", app.ClientID)
	if !app.Public {
		fmt.Fprintf(&b, "client_secret = %s\n", secret)
	}
	fmt.Fprintf(&b, "scopes = openid profile email groups offline_access\n")
	fmt.Fprintf(&b, "auth_url = %s%s\n", issuer, AuthorizePath)
	fmt.Fprintf(&b, "token_url = %s%s\n", issuer, TokenPath)
	fmt.Fprintf(&b, "api_url = %s%s\n", issuer, UserinfoPath)
	fmt.Fprintf(&b, "signout_redirect_url = %s%s?client_id=%s\n", issuer, EndSessionPath, app.ClientID)
	fmt.Fprintf(&b, "use_pkce = true\n")
	fmt.Fprintf(&b, "use_refresh_token = true\n")
	fmt.Fprintf(&b, "# Gatehouse usernames are Grafana logins; the subject (sub) is not the username.\n")
	fmt.Fprintf(&b, "login_attribute_path = preferred_username\n")
	fmt.Fprintf(&b, "name_attribute_path = name\n")
	fmt.Fprintf(&b, "# Members without an email get no email claim, and Grafana refuses a sign-in without one:\n")
	fmt.Fprintf(&b, "# this makes <username>@users.invalid for them. Drop the fallback if every member has an email.\n")
	fmt.Fprintf(&b, "email_attribute_path = email || join('', [preferred_username, '@users.invalid'])\n")
	fmt.Fprintf(&b, "groups_attribute_path = groups\n")
	fmt.Fprintf(&b, "# Grafana admins: members of the Gatehouse group grafana-admins (rename to one of yours).\n")
	fmt.Fprintf(&b, "role_attribute_path = contains(groups[*], 'grafana-admins') && 'Admin' || 'Viewer'\n")
	return b.String()
}

func giteaSnippet(issuer string, app models.App, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Run as the Gitea user on the Gitea server.\n")
	fmt.Fprintf(&b, "# Redirect URI to register: https://<gitea>/user/oauth2/%s/callback\n", app.Name)
	fmt.Fprintf(&b, "gitea admin auth add-oauth \\\n")
	fmt.Fprintf(&b, "  --name=%s \\\n", shellQuote(app.Name))
	fmt.Fprintf(&b, "  --provider=openidConnect \\\n")
	fmt.Fprintf(&b, "  --key=%s \\\n", shellQuote(app.ClientID))
	if !app.Public {
		fmt.Fprintf(&b, "  --secret=%s \\\n", shellQuote(secret))
	}
	fmt.Fprintf(&b, "  --auto-discover-url=%s \\\n", shellQuote(DiscoveryURL(issuer)))
	fmt.Fprintf(&b, "  --scopes=openid --scopes=profile --scopes=email --scopes=groups \\\n")
	fmt.Fprintf(&b, "  --group-claim-name=groups\n")
	fmt.Fprintf(&b, "# Gitea names new accounts after preferred_username ([oauth2_client] USERNAME = nickname, the default).\n")
	fmt.Fprintf(&b, "# A member without an email types one on Gitea's registration page the first time.\n")
	return b.String()
}

func oauth2ProxySnippet(issuer string, app models.App, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# oauth2-proxy v7 in front of an app that has no sign-in of its own.\n")
	fmt.Fprintf(&b, "oauth2-proxy \\\n")
	fmt.Fprintf(&b, "  --provider=oidc \\\n")
	fmt.Fprintf(&b, "  --oidc-issuer-url=%s \\\n", shellQuote(issuer))
	fmt.Fprintf(&b, "  --client-id=%s \\\n", shellQuote(app.ClientID))
	if !app.Public {
		fmt.Fprintf(&b, "  --client-secret=%s \\\n", shellQuote(secret))
	}
	fmt.Fprintf(&b, "  --redirect-url=%s \\\n", shellQuote(firstRedirect(app, "https://app.example/oauth2/callback")))
	fmt.Fprintf(&b, "  --scope='openid profile email groups' \\\n")
	fmt.Fprintf(&b, "  --code-challenge-method=S256 \\\n")
	fmt.Fprintf(&b, "  --oidc-groups-claim=groups \\\n")
	fmt.Fprintf(&b, "  --email-domain='*' \\\n")
	fmt.Fprintf(&b, "  --cookie-secret=\"$(openssl rand -base64 32 | tr -- '+/' '-_')\" \\\n")
	fmt.Fprintf(&b, "  --upstream=http://%s\n", UpstreamPlaceholder)
	fmt.Fprintf(&b, "# oauth2-proxy needs an email: for members without one add --oidc-email-claim=preferred_username.\n")
	return b.String()
}

func outlineSnippet(issuer string, app models.App, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Outline's .env. Redirect URI to register: https://<outline>/auth/oidc.callback\n")
	fmt.Fprintf(&b, "OIDC_CLIENT_ID=%s\n", app.ClientID)
	if !app.Public {
		fmt.Fprintf(&b, "OIDC_CLIENT_SECRET=%s\n", secret)
	}
	fmt.Fprintf(&b, "OIDC_AUTH_URI=%s%s\n", issuer, AuthorizePath)
	fmt.Fprintf(&b, "OIDC_TOKEN_URI=%s%s\n", issuer, TokenPath)
	fmt.Fprintf(&b, "OIDC_USERINFO_URI=%s%s\n", issuer, UserinfoPath)
	fmt.Fprintf(&b, "OIDC_LOGOUT_URI=%s%s\n", issuer, EndSessionPath)
	fmt.Fprintf(&b, "OIDC_USERNAME_CLAIM=preferred_username\n")
	fmt.Fprintf(&b, "OIDC_DISPLAY_NAME=%s\n", envValue(app.Title))
	fmt.Fprintf(&b, "OIDC_SCOPES=\"openid profile email\"\n")
	fmt.Fprintf(&b, "# Outline identifies people by email: members without an email cannot sign in to it.\n")
	return b.String()
}

// ProxySnippets are ready configurations of nginx, Caddy and Traefik for a proxy app, asking the
// Gatehouse at origin before every request and passing the identity headers on to the upstream.
func ProxySnippets(origin string, app models.App) []Snippet {
	origin = strings.TrimRight(origin, "/")
	return []Snippet{
		{ID: "nginx", Lang: "nginx", Text: nginxSnippet(origin, app)},
		{ID: "caddy", Lang: "caddyfile", Text: caddySnippet(origin, app)},
		{ID: "traefik", Lang: "yaml", Text: traefikSnippet(origin, app)},
	}
}

// domainsOrExample is the app's domains, or an example before any is saved.
func domainsOrExample(app models.App) []string {
	if len(app.Domains) > 0 {
		return app.Domains
	}
	return []string{"app.corp.example"}
}

func nginxSnippet(origin string, app models.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# nginx: Gatehouse forward-auth for %q (%s).\n", app.Title, app.Name)
	fmt.Fprintf(&b, "# WebSocket upgrades reach the app (nginx's own recipe; the same map in several files is fine).\n")
	fmt.Fprintf(&b, "map $http_upgrade $gatehouse_connection {\n")
	fmt.Fprintf(&b, "    default upgrade;\n")
	fmt.Fprintf(&b, "    ''      close;\n")
	fmt.Fprintf(&b, "}\n\n")
	fmt.Fprintf(&b, "server {\n")
	fmt.Fprintf(&b, "    listen 443 ssl;\n")
	fmt.Fprintf(&b, "    server_name %s;\n", strings.Join(domainsOrExample(app), " "))
	fmt.Fprintf(&b, "    # ssl_certificate …; ssl_certificate_key …;\n\n")
	fmt.Fprintf(&b, "    location / {\n")
	fmt.Fprintf(&b, "        auth_request /_gatehouse;\n")
	fmt.Fprintf(&b, "        # Not signed in: Gatehouse answers 401 with the sign-in page in Location.\n")
	fmt.Fprintf(&b, "        auth_request_set $gatehouse_location $upstream_http_location;\n")
	fmt.Fprintf(&b, "        error_page 401 =302 $gatehouse_location;\n\n")
	fmt.Fprintf(&b, "        # Who is signed in, for the app. Setting each header replaces any the client sent.\n")
	for _, h := range RemoteHeaders {
		fmt.Fprintf(&b, "        auth_request_set $gatehouse_%s $upstream_http_%s;\n", nginxVar(h), nginxVar(h))
	}
	for _, h := range RemoteHeaders {
		fmt.Fprintf(&b, "        proxy_set_header %s $gatehouse_%s;\n", h, nginxVar(h))
	}
	fmt.Fprintf(&b, "        # The Host the browser sent (port included) and how it came, as Caddy and Traefik pass them.\n")
	fmt.Fprintf(&b, "        proxy_set_header Host $http_host;\n")
	fmt.Fprintf(&b, "        proxy_set_header X-Forwarded-Proto $scheme;\n")
	fmt.Fprintf(&b, "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n")
	fmt.Fprintf(&b, "        proxy_http_version 1.1;\n")
	fmt.Fprintf(&b, "        proxy_set_header Upgrade $http_upgrade;\n")
	fmt.Fprintf(&b, "        proxy_set_header Connection $gatehouse_connection;\n")
	fmt.Fprintf(&b, "        proxy_pass http://%s;\n", UpstreamPlaceholder)
	fmt.Fprintf(&b, "    }\n\n")
	fmt.Fprintf(&b, "    location = /_gatehouse {\n")
	fmt.Fprintf(&b, "        internal;\n")
	fmt.Fprintf(&b, "        proxy_pass %s%s;\n", origin, ProxyNginxPath)
	if strings.HasPrefix(origin, "https://") {
		fmt.Fprintf(&b, "        # nginx neither sends the name (SNI) nor checks the certificate of an https upstream by\n")
		fmt.Fprintf(&b, "        # default: Gatehouse's answer decides who the app sees, so check it is Gatehouse.\n")
		fmt.Fprintf(&b, "        proxy_ssl_server_name on;\n")
		fmt.Fprintf(&b, "        proxy_ssl_verify on;\n")
		fmt.Fprintf(&b, "        # Debian/Ubuntu's CA bundle; /etc/pki/tls/certs/ca-bundle.crt on RHEL-likes.\n")
		fmt.Fprintf(&b, "        proxy_ssl_trusted_certificate %s;\n", NginxCABundle)
	}
	fmt.Fprintf(&b, "        proxy_pass_request_body off;\n")
	fmt.Fprintf(&b, "        proxy_set_header Content-Length \"\";\n")
	fmt.Fprintf(&b, "        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n")
	fmt.Fprintf(&b, "        proxy_set_header X-Original-Method $request_method;\n")
	fmt.Fprintf(&b, "        # Clear client-sent identity headers on the way to Gatehouse too.\n")
	for _, h := range RemoteHeaders {
		fmt.Fprintf(&b, "        proxy_set_header %s \"\";\n", h)
	}
	fmt.Fprintf(&b, "    }\n")
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

// NginxCABundle is where Debian and Ubuntu keep the system's trusted CAs, which nginx is told to
// check Gatehouse's certificate against.
const NginxCABundle = "/etc/ssl/certs/ca-certificates.crt"

// nginxVar is a header name as nginx's $upstream_http_ variables spell it: lower case, "-" → "_".
func nginxVar(h string) string { return strings.ReplaceAll(strings.ToLower(h), "-", "_") }

func caddySnippet(origin string, app models.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Caddyfile: Gatehouse forward-auth for %q (%s).\n", app.Title, app.Name)
	fmt.Fprintf(&b, "%s {\n", strings.Join(domainsOrExample(app), ", "))
	fmt.Fprintf(&b, "\troute {\n")
	fmt.Fprintf(&b, "\t\t# Drop the identity headers the client sent: from Caddy 2.9 until the fix of\n")
	fmt.Fprintf(&b, "\t\t# GHSA-7r4p-vjf4-gxv4, copy_headers skips an empty value (Remote-Groups of someone in\n")
	fmt.Fprintf(&b, "\t\t# no group) and keeps the client's. route keeps this order (request_header would\n")
	fmt.Fprintf(&b, "\t\t# otherwise run after forward_auth and drop Gatehouse's answer instead).\n")
	for _, h := range RemoteHeaders {
		fmt.Fprintf(&b, "\t\trequest_header -%s\n", h)
	}
	fmt.Fprintf(&b, "\t\tforward_auth %s {\n", origin)
	fmt.Fprintf(&b, "\t\t\turi %s\n", ProxyForwardPath)
	fmt.Fprintf(&b, "\t\t\tcopy_headers %s\n", strings.Join(RemoteHeaders, " "))
	fmt.Fprintf(&b, "\t\t\t# Gatehouse's own host, for whatever serves it; the app's host goes in X-Forwarded-Host.\n")
	fmt.Fprintf(&b, "\t\t\theader_up Host {upstream_hostport}\n")
	fmt.Fprintf(&b, "\t\t}\n")
	fmt.Fprintf(&b, "\t\treverse_proxy %s\n", UpstreamPlaceholder)
	fmt.Fprintf(&b, "\t}\n")
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

func traefikSnippet(origin string, app models.App) string {
	var rules []string
	for _, d := range domainsOrExample(app) {
		if suffix, ok := strings.CutPrefix(d, "*."); ok {
			rules = append(rules, "HostRegexp(`^.+\\."+strings.ReplaceAll(suffix, ".", `\.`)+"$`)")
		} else {
			rules = append(rules, "Host(`"+d+"`)")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Traefik v3 dynamic configuration (file provider): Gatehouse forward-auth for %q (%s).\n", app.Title, app.Name)
	fmt.Fprintf(&b, "http:\n")
	fmt.Fprintf(&b, "  middlewares:\n")
	fmt.Fprintf(&b, "    gatehouse:\n")
	fmt.Fprintf(&b, "      forwardAuth:\n")
	fmt.Fprintf(&b, "        address: %q\n", origin+ProxyForwardPath)
	fmt.Fprintf(&b, "        # Copied onto the request to the app, replacing any the client sent.\n")
	fmt.Fprintf(&b, "        authResponseHeaders:\n")
	for _, h := range RemoteHeaders {
		fmt.Fprintf(&b, "          - %s\n", h)
	}
	fmt.Fprintf(&b, "  routers:\n")
	fmt.Fprintf(&b, "    %s:\n", app.Name)
	fmt.Fprintf(&b, "      rule: %q\n", strings.Join(rules, " || "))
	fmt.Fprintf(&b, "      middlewares:\n")
	fmt.Fprintf(&b, "        - gatehouse\n")
	fmt.Fprintf(&b, "      service: %s\n", app.Name)
	fmt.Fprintf(&b, "      tls: {}\n")
	fmt.Fprintf(&b, "  services:\n")
	fmt.Fprintf(&b, "    %s:\n", app.Name)
	fmt.Fprintf(&b, "      loadBalancer:\n")
	fmt.Fprintf(&b, "        servers:\n")
	fmt.Fprintf(&b, "          - url: \"http://%s\"\n", UpstreamPlaceholder)
	return b.String()
}

// shellQuote quotes a word for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// envValue quotes a .env value that holds spaces or quotes.
func envValue(s string) string {
	if !strings.ContainsAny(s, " \t\"'#$\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(s) + `"`
}
