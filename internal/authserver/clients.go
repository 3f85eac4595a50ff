package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// client is a configured OAuth client as the server holds it in memory.
type client struct {
	id        string
	secret    *secretHash         // nil for private_key_jwt clients
	jwks      *jose.JSONWebKeySet // private_key_jwt keys
	scopes    []string
	audiences []string
	// approvesFor: the clients whose runs this client may approve (§5).
	approvesFor []string
}

func newClient(cc ClientConfig) (*client, error) {
	c := &client{id: cc.ClientID, scopes: cc.Scopes, audiences: cc.Audiences, approvesFor: cc.ApprovesFor}
	switch {
	case cc.ClientSecret != "":
		// The plaintext is in the configuration file already, so a KDF
		// would protect nothing: keep a digest and compare digests.
		sum := sha256.Sum256([]byte(cc.ClientSecret))
		c.secret = &secretHash{kind: "sha256", key: sum[:]}
	case cc.ClientSecretHash != "":
		h, err := parseSecretHash(cc.ClientSecretHash)
		if err != nil {
			return nil, err
		}
		c.secret = h
	default:
		set, err := parseClientJWKS(cc.jwksJSON)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", cc.ClientID, err)
		}
		c.jwks = set
	}
	return c, nil
}

// parseClientJWKS reads a client's private_key_jwt keys (§1): signature
// keys only, each as keys.ParsePublicJWK accepts a registered agent key —
// no private or symmetric members, use absent or sig, an alg that fits the
// key, P-256, Ed25519 or RSA of 2048 to 4096 bits. A key that could never
// verify an assertion is a configuration mistake, reported at start
// rather than as failed logins.
func parseClientJWKS(data json.RawMessage) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || len(raw.Keys) == 0 {
		return nil, errors.New("jwks: want a JWK set with public keys")
	}
	set := &jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(raw.Keys))}
	for i, k := range raw.Keys {
		jwk, err := keys.ParsePublicJWK(k)
		if err != nil {
			return nil, fmt.Errorf("jwks: keys[%d]: %w", i, err)
		}
		set.Keys = append(set.Keys, *jwk)
	}
	return set, nil
}

func (c *client) hasScope(s string) bool { return slices.Contains(c.scopes, s) }

// assertionKey picks the key of a client assertion by its kid, as go-jose
// does given the whole set (a kid is required, the first match wins), and
// wraps it so that an assertion named Ed25519 verifies (RFC 9864;
// PROTOCOL.md §3): go-jose v4.1.9 knows only the name EdDSA.
func (c *client) assertionKey(kid string) (any, bool) {
	if kid == "" {
		// kid is optional (RFC 7515 §4.1.4, RFC 7523): without one, the
		// client's only key, never a guess among several.
		if len(c.jwks.Keys) != 1 {
			return nil, false
		}
		return keys.JOSEVerificationKey(c.jwks.Keys[0].Key), true
	}
	found := c.jwks.Key(kid)
	if len(found) == 0 {
		return nil, false
	}
	return keys.JOSEVerificationKey(found[0].Key), true
}

const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

var errClient = &protocol.Error{Code: protocol.CodeInvalidClient, Status: http.StatusUnauthorized, Description: "client authentication failed"}

// authenticateClient implements client_secret_basic, client_secret_post and
// private_key_jwt (RFC 6749 §2.3, RFC 7523 §2.2). Exactly one method may be
// used. Every failure looks the same to the caller.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (*client, error) {
	user, pass, basic := r.BasicAuth()
	post := form.Get("client_secret") != ""
	jwtAuth := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	methods := 0
	for _, m := range []bool{basic, post, jwtAuth} {
		if m {
			methods++
		}
	}
	switch {
	case methods > 1:
		return nil, errBadRequest("use exactly one client authentication method")
	case basic:
		return s.checkSecret(ctx, r, unescapeBasic(user), unescapeBasic(pass))
	case post:
		return s.checkSecret(ctx, r, form.Get("client_id"), form.Get("client_secret"))
	case jwtAuth:
		return s.checkClientAssertion(ctx, form)
	}
	return nil, errClient.WithDescription("client authentication required")
}

// unescapeBasic undoes the form-encoding RFC 6749 §2.3.1 applies to the
// Basic credentials.
func unescapeBasic(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// checkSecret takes the same time to refuse whether id names a client with
// an argon2id hash, a fast one, no secret at all, or no client (§1): see
// secretChecker. Only what no configured client can have — a malformed
// id, an empty or oversized secret — is refused at once, which tells
// nothing about any client.
func (s *Server) checkSecret(ctx context.Context, r *http.Request, id, secret string) (*client, error) {
	if !validID(id) || secret == "" || len(secret) > 512 {
		return nil, errClient
	}
	c := s.clients[id]
	var stored *secretHash
	if c != nil {
		stored = c.secret
	}
	if err := s.secrets.check(ctx, id, sourceAddr(r), stored, secret); err != nil {
		return nil, err
	}
	return c, nil
}

// sourceAddr is the peer's IP address (behind a reverse proxy: the
// proxy's, so the per-address failure limit is then shared).
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) checkClientAssertion(ctx context.Context, form url.Values) (*client, error) {
	if form.Get("client_assertion_type") != assertionTypeJWTBearer {
		return nil, errBadRequest("client_assertion_type must be %s", assertionTypeJWTBearer)
	}
	raw := form.Get("client_assertion")
	if len(raw) > protocol.MaxTokenSize {
		return nil, errClient
	}
	tok, err := jwt.ParseSigned(raw, s.joseAlgs)
	if err != nil || len(tok.Headers) != 1 || !assertionType(tok.Headers[0]) {
		return nil, errClient
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errClient
	}
	c := s.clients[unverified.Issuer]
	if c == nil || c.jwks == nil {
		return nil, errClient
	}
	if id := form.Get("client_id"); id != "" && id != c.id {
		return nil, errClient // RFC 7521 §4.2: the assertion names the client
	}
	key, ok := c.assertionKey(tok.Headers[0].KeyID)
	if !ok {
		return nil, errClient
	}
	var claims jwt.Claims
	if err := tok.Claims(key, &claims); err != nil {
		return nil, errClient
	}
	if err := s.checkAssertionClaims(ctx, c, &claims); err != nil {
		return nil, err
	}
	return c, nil
}

// assertionType accepts a client assertion's typ (§1): absent, JWT or
// client-authentication+jwt (compared as media types: without case, the
// "application/" prefix optional, RFC 7515 §4.1.9). Any other typed JWT —
// a DPoP proof, an access token, a delegation assertion — was made for
// another purpose and is never a client's credential (RFC 8725 §3.11).
func assertionType(h jose.Header) bool {
	v, present := h.ExtraHeaders[jose.HeaderType]
	if !present {
		return true
	}
	typ, ok := v.(string)
	if !ok {
		return false
	}
	typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
	return typ == "jwt" || typ == "client-authentication+jwt"
}

// assertionLeeway is the clock skew allowed on a client assertion's exp,
// nbf and iat.
const assertionLeeway = protocol.DefaultLeeway

// checkAssertionClaims accepts an assertion while now < exp + leeway and
// remembers its jti in the store, shared by every node, until that same
// instant: the window in which it is accepted and the one in which a
// replay is recognised are one (go-jose alone would also accept it at
// exp + leeway exactly, when the store has just forgotten it).
func (s *Server) checkAssertionClaims(ctx context.Context, c *client, claims *jwt.Claims) error {
	now := s.now()
	expected := jwt.Expected{Issuer: c.id, Subject: c.id, Time: now}
	if err := claims.ValidateWithLeeway(expected, assertionLeeway); err != nil {
		return errClient
	}
	// §1: the issuer identifier alone (as draft-ietf-oauth-rfc7523bis has
	// it), not the token endpoint, and not a list naming other parties
	// that might replay it.
	if len(claims.Audience) != 1 || claims.Audience[0] != s.cfg.Issuer {
		return errClient
	}
	if claims.Expiry == nil || claims.ID == "" || claims.Expiry.Time().Sub(now) > 5*time.Minute {
		return errClient.WithDescription("client assertion needs jti and an exp at most 5 minutes ahead")
	}
	until := claims.Expiry.Time().Add(assertionLeeway)
	if !now.Before(until) {
		return errClient
	}
	fresh, err := s.useOnce(ctx, "client-assertion:"+c.id+":"+claims.ID, until)
	if err != nil {
		return err
	}
	if !fresh {
		return errClient.WithDescription("client assertion replayed")
	}
	return nil
}

// scopeList splits a space-separated scope string, refusing junk.
func scopeList(s string) ([]string, error) {
	if len(s) > 1024 {
		return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "scope too long")
	}
	fields := strings.Fields(s)
	for _, f := range fields {
		if !validScopeToken(f) {
			return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "malformed scope %q", clip.Text(f, clip.Short))
		}
	}
	return fields, nil
}

// validScopeToken follows RFC 6749 §3.3 scope-token characters.
func validScopeToken(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return false
		}
	}
	return s != ""
}
