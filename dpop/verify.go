package dpop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/boundedmap"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// NonceChecker issues and checks server nonces (RFC 9449 §8, §9). Valid
// is given the proof's nonce claim ("" when it has none).
type NonceChecker interface {
	Valid(nonce string) bool
	New() string
}

// Verifier checks proofs. It is safe for concurrent use.
type Verifier struct {
	cache  ReplayCache
	algs   []jose.SignatureAlgorithm
	window time.Duration
	future time.Duration // how far ahead of now iat may be; < 0: the window
	guard  bool          // WithEpochGuard
	now    func() time.Time
	nonces NonceChecker
	keys   *boundedmap.Map[string, cachedKey]
}

// Option configures NewVerifier; an option that cannot apply fails it.
type Option func(*Verifier) error

// WithAlgs replaces the allow-list (default keys.ProofAlgs: ES256,
// Ed25519, EdDSA, RS256). Only those can be named; none and HMAC never.
// Ed25519 and EdDSA are listed apart, as clients send them: a list of one
// refuses proofs named by the other.
func WithAlgs(algs ...keys.Alg) Option {
	return func(v *Verifier) error {
		list, err := keys.JOSEAlgs(algs)
		if err != nil {
			return fmt.Errorf("dpop: %w", err)
		}
		v.algs = list
		return nil
	}
}

// WithIATWindow sets how far iat may be from now, either way (default
// 60 s, at most 10 min: a longer window is a longer replay cache entry).
func WithIATWindow(d time.Duration) Option {
	return func(v *Verifier) error {
		if d <= 0 || d > maxIATWindow {
			return fmt.Errorf("dpop: iat window %s outside (0, %s]", d, maxIATWindow)
		}
		v.window = d
		return nil
	}
}

// WithFutureSkew sets how far ahead of now iat may be (default: the iat
// window; at most the window). RFC 9449 §11.1 allows the window to be
// asymmetric: a proof may be old by the whole window, but a clock that
// runs ahead needs only a few seconds, and the epoch guard refuses proofs
// for that long after each epoch starts.
func WithFutureSkew(d time.Duration) Option {
	return func(v *Verifier) error {
		if d < 0 || d > maxIATWindow {
			return fmt.Errorf("dpop: future skew %s outside [0, %s]", d, maxIATWindow)
		}
		v.future = d
		return nil
	}
}

// WithEpochGuard refuses a proof that the replay cache may have seen
// before its epoch started (a restart, a Redis that lost its data): one
// whose iat is before the epoch's start plus the future skew, unless it
// carries the epoch's nonce. Such a proof gets use_dpop_nonce (reason
// replay_window_reset) with the nonce in a *NonceError; a client that
// retries with it is accepted. It cannot be combined with WithNonce: a
// proof carries one nonce.
func WithEpochGuard() Option {
	return func(v *Verifier) error { v.guard = true; return nil }
}

// WithClock sets the verifier's clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error {
		if now == nil {
			return errors.New("dpop: nil clock")
		}
		v.now = now
		return nil
	}
}

// WithNonce requires every proof to carry a nonce that n accepts.
func WithNonce(n NonceChecker) Option {
	return func(v *Verifier) error {
		if n == nil {
			return errors.New("dpop: nil nonce checker")
		}
		v.nonces = n
		return nil
	}
}

// NewVerifier makes a verifier. The replay cache is required: without one
// a captured proof could be replayed for its whole iat window.
func NewVerifier(cache ReplayCache, opts ...Option) (*Verifier, error) {
	if cache == nil {
		return nil, errors.New("dpop: a replay cache is required")
	}
	v := &Verifier{cache: cache, window: protocol.DefaultIATSkew, future: -1, now: time.Now, keys: boundedmap.New[string, cachedKey](maxCachedKeys)}
	var err error
	if v.algs, err = keys.JOSEAlgs(keys.ProofAlgs()); err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	switch {
	case v.future < 0:
		v.future = v.window
	case v.future > v.window:
		return nil, fmt.Errorf("dpop: future skew %s beyond the iat window %s", v.future, v.window)
	}
	if v.guard && v.nonces != nil {
		return nil, errors.New("dpop: the epoch guard and WithNonce both need the proof's nonce")
	}
	return v, nil
}

// Request is what a proof must match.
type Request struct {
	// Proof is every DPoP header value of the request, joined with ","
	// (ProofFromHeader does it): more than one proof is refused.
	Proof string
	// Method is the request method, compared with htm exactly.
	Method string
	// URL is the request URL as the client addressed it,
	// scheme://host[:port]/path[?query]; the query is ignored.
	URL string
	// AccessToken must hash to the proof's ath. It is empty only with
	// NoAccessToken.
	AccessToken string
	// JKT must equal the proof key's RFC 7638 thumbprint (the access
	// token's cnf.jkt, or a registered key). It is empty only with AnyKey.
	JKT string
	// NoAccessToken states that the request carries no access token (a
	// token request, RFC 9449 §5), so there is no ath to compare.
	NoAccessToken bool
	// AnyKey states that no key is bound yet: the proof's key is the one
	// a token about to be issued will be bound to.
	AnyKey bool
}

// ErrUnstatedBinding is a Request that names neither the access token and
// key a proof is bound to nor that there are none: a caller's mistake,
// refused rather than read as "skip the check".
var ErrUnstatedBinding = errors.New("dpop: request states neither AccessToken nor NoAccessToken, or neither JKT nor AnyKey")

// Proof is a verified proof.
type Proof struct {
	JTI, HTM, HTU, Nonce, ATH string
	JKT                       string // RFC 7638 thumbprint of Key
	IssuedAt                  time.Time
	Key                       *jose.JSONWebKey // the public key that signed it; shared between proofs by one key: read only
}

const (
	maxJTI       = 256 // bytes; bounds what the replay cache is keyed on
	maxIATWindow = 10 * time.Minute
)

// Verify checks a proof against a request, in a fixed order: the proof's
// form, its header, the signature, the claims against the request (Check),
// and the replay cache last (Checked.Use), so that a proof failing any
// other check never takes a cache entry. Failures are *protocol.Error
// values (invalid_dpop_proof, or use_dpop_nonce); a failing replay cache
// gives a plain error (ErrCacheFull, ErrOwnerFull or the cache's own).
func (v *Verifier) Verify(ctx context.Context, r Request) (*Proof, error) {
	c, err := v.Check(r)
	if err != nil {
		return nil, err
	}
	return c.Use(ctx)
}

// Check makes every check of Verify but the replay cache. A server that
// decides more about the request (its policy) before accepting the proof
// calls Check first and Checked.Use only for a request it will serve: a
// refused request then takes no replay-cache entry.
func (v *Verifier) Check(r Request) (*Checked, error) {
	if err := r.stated(); err != nil {
		return nil, err
	}
	parts, err := v.splitProof(r.Proof)
	if err != nil {
		return nil, err
	}
	p, err := v.checkHeaderAndSignature(parts)
	if err != nil {
		return nil, err
	}
	if err := parts.claims.fill(p); err != nil {
		return nil, err
	}
	if err := v.checkRequest(p, r); err != nil {
		return nil, err
	}
	return &Checked{v: v, p: p}, nil
}
