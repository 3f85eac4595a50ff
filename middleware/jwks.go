package middleware

import (
	"context"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/discovery"
	"net/http"
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

// FetchMetadata reads the issuer's metadata and checks that it names the
// same issuer (RFC 8414 §3.3).
func FetchMetadata(ctx context.Context, hc *http.Client, issuer string) (*Metadata, error) {
	m, err := discovery.Fetch(ctx, hc, issuer)
	if err != nil {
		return nil, fmt.Errorf("middleware: %w", err)
	}
	return &Metadata{Issuer: m.Issuer, JWKSURI: m.JWKSURI, RevocationFeed: m.RevocationFeed}, nil
}

// RemoteKeySet is a token.KeySource over the IdP's JWKS: keys are cached
// for the response's max-age (at least minRefresh, at most maxRefresh), an
// unknown kid triggers at most one refetch per minRefresh, and while the
// IdP is unreachable or hung the cached keys keep serving.
//
// A fetch never runs under the lock that key lookups take: a hung IdP must
// not freeze requests whose keys are known. A known key past its max-age is
// served at once while one background fetch renews the set; only an
// unknown kid waits for a fetch, and at most UnknownKeyWait.
type RemoteKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	// UnknownKeyWait bounds how long a lookup of an unknown kid waits for
	// the fetch it triggered (or joined). Default DefaultUnknownKeyWait.
	UnknownKeyWait time.Duration
	// FetchTimeout bounds one JWKS fetch. Default DefaultFetchTimeout.
	FetchTimeout time.Duration

	mu        sync.RWMutex
	keys      map[string]*jose.JSONWebKey
	expires   time.Time
	lastFetch time.Time
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
	health    KeySetHealth
}

// KeySetHealth is the state of the JWKS cache, for metrics: an enforcer
// that cannot refresh the issuer's keys refuses tokens signed with a new
// one (unknown_key).
type KeySetHealth struct {
	Keys        int       // keys held
	LastSuccess time.Time // last successful fetch; zero before the first
	Failures    int       // fetches that failed since the process started
}

// Health reports the cache's state.
func (s *RemoteKeySet) Health() KeySetHealth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.health
	h.Keys = len(s.keys)
	return h
}

const (
	minRefresh = 5 * time.Second
	maxRefresh = 10 * time.Minute
	maxKeys    = 100

	// DefaultUnknownKeyWait is how long an unknown kid waits for the JWKS.
	DefaultUnknownKeyWait = 2 * time.Second
	// DefaultFetchTimeout bounds one JWKS fetch.
	DefaultFetchTimeout = 10 * time.Second
)

// NewRemoteKeySet fetches lazily on first use.
func NewRemoteKeySet(url string, hc *http.Client, now func() time.Time) *RemoteKeySet {
	return &RemoteKeySet{url: url, client: hc, now: now, keys: map[string]*jose.JSONWebKey{},
		UnknownKeyWait: DefaultUnknownKeyWait, FetchTimeout: DefaultFetchTimeout}
}

// PublicKey implements token.KeySource.
func (s *RemoteKeySet) PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	now := s.now()
	s.mu.RLock()
	k, ok := s.keys[kid]
	fresh := now.Before(s.expires)
	s.mu.RUnlock()
	if ok {
		if !fresh {
			s.startFetch(ctx, now) // renew in the background; the stale key serves meanwhile
		}
		return k, nil
	}
	done := s.startFetch(ctx, now)
	if done == nil {
		return nil, protocol.ErrUnknownKey.WithDescription("kid not in the issuer's JWKS")
	}
	wait := time.NewTimer(s.UnknownKeyWait)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
	case <-ctx.Done():
	}
	s.mu.RLock()
	k, ok = s.keys[kid]
	s.mu.RUnlock()
	if !ok {
		return nil, protocol.ErrUnknownKey.WithDescription("kid not in the issuer's JWKS")
	}
	return k, nil
}

// startFetch returns the channel of the running fetch, starting one when
// none runs and the last began at least minRefresh ago; nil when no fetch
// runs or may run (the rate limit that keeps random kids from hammering
// the IdP).
func (s *RemoteKeySet) startFetch(ctx context.Context, now time.Time) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	if !s.lastFetch.IsZero() && now.Sub(s.lastFetch) < minRefresh {
		return nil
	}
	s.lastFetch = now
	done := make(chan struct{})
	s.inflight = done
	// The fetch outlives the request that triggered it: other requests wait
	// for it too.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.FetchTimeout)
	go func() {
		defer cancel()
		s.fetch(fctx, now)
		s.mu.Lock()
		s.inflight = nil
		s.mu.Unlock()
		close(done)
	}()
	return done
}

// fetch refetches the set; on failure the old keys stay.
func (s *RemoteKeySet) fetch(ctx context.Context, now time.Time) {
	var set jose.JSONWebKeySet
	age, err := discovery.GetJSON(ctx, s.client, s.url, &set)
	var fresh map[string]*jose.JSONWebKey
	if err == nil {
		fresh, err = publicKeys(set)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.health.Failures++
		return
	}
	s.keys = fresh
	s.expires = now.Add(min(max(age, minRefresh), maxRefresh))
	s.health.LastSuccess = s.now()
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
