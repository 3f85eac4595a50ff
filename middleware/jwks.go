package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Metadata is the part of the IdP's RFC 8414 document enforcers use.
type Metadata struct {
	Issuer         string `json:"issuer"`
	JWKSURI        string `json:"jwks_uri"`
	RevocationFeed string `json:"revocation_feed_endpoint"`
}

const maxDocument = 1 << 20

// FetchMetadata reads the issuer's metadata and checks that it names the
// same issuer (RFC 8414 §3.3).
func FetchMetadata(ctx context.Context, hc *http.Client, issuer string) (*Metadata, error) {
	var m Metadata
	if _, err := getJSON(ctx, hc, strings.TrimSuffix(issuer, "/")+"/.well-known/oauth-authorization-server", &m); err != nil {
		return nil, fmt.Errorf("middleware: issuer metadata: %w", err)
	}
	if m.Issuer != strings.TrimSuffix(issuer, "/") || m.JWKSURI == "" {
		return nil, fmt.Errorf("middleware: issuer metadata names issuer %q, want %q", m.Issuer, issuer)
	}
	return &m, nil
}

// getJSON GETs url into v and returns the response's cache lifetime.
func getJSON(ctx context.Context, hc *http.Client, url string, v any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxDocument))
	if err != nil {
		return 0, err
	}
	return maxAge(res.Header.Get("Cache-Control")), json.Unmarshal(data, v)
}

// maxAge reads max-age from Cache-Control (0 when absent or no-store).
func maxAge(cc string) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "no-store" || part == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

// RemoteKeySet is a token.KeySource over the IdP's JWKS: keys are cached
// for the response's max-age (at least minRefresh, at most maxRefresh), an
// unknown kid triggers at most one refetch per minRefresh, and while the
// IdP is unreachable the cached keys keep serving.
type RemoteKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*jose.JSONWebKey
	expires   time.Time
	lastFetch time.Time
}

const (
	minRefresh = 5 * time.Second
	maxRefresh = 10 * time.Minute
	maxKeys    = 100
)

// NewRemoteKeySet fetches lazily on first use.
func NewRemoteKeySet(url string, hc *http.Client, now func() time.Time) *RemoteKeySet {
	return &RemoteKeySet{url: url, client: hc, now: now, keys: map[string]*jose.JSONWebKey{}}
}

// PublicKey implements token.KeySource.
func (s *RemoteKeySet) PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k, ok := s.keys[kid]
	if ok && now.Before(s.expires) {
		return k, nil
	}
	if now.Sub(s.lastFetch) >= minRefresh || s.lastFetch.IsZero() {
		if err := s.refresh(ctx, now); err == nil {
			k, ok = s.keys[kid]
		}
	}
	if ok {
		return k, nil // fresh, or stale but the IdP could not be asked
	}
	return nil, protocol.ErrUnknownKey.WithDescription("kid not in the issuer's JWKS")
}

// refresh refetches the set; the caller holds s.mu. Fetching under the lock
// makes concurrent misses share one request.
func (s *RemoteKeySet) refresh(ctx context.Context, now time.Time) error {
	s.lastFetch = now
	var set jose.JSONWebKeySet
	age, err := getJSON(ctx, s.client, s.url, &set)
	if err != nil {
		return err
	}
	fresh, err := publicKeys(set)
	if err != nil {
		return err
	}
	s.keys = fresh
	s.expires = now.Add(min(max(age, minRefresh), maxRefresh))
	return nil
}

func publicKeys(set jose.JSONWebKeySet) (map[string]*jose.JSONWebKey, error) {
	if len(set.Keys) > maxKeys {
		return nil, errors.New("middleware: JWKS has too many keys")
	}
	out := make(map[string]*jose.JSONWebKey, len(set.Keys))
	for i := range set.Keys {
		k := set.Keys[i]
		if k.KeyID == "" || !k.IsPublic() {
			continue
		}
		if _, err := keys.AlgForKey(k.Key); err != nil {
			continue
		}
		out[k.KeyID] = &k
	}
	return out, nil
}
