package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// Checked is a proof that passed every check of Verify but the replay
// cache. It is not accepted until Use records it.
type Checked struct {
	v *Verifier
	p *Proof
}

// JKT is the thumbprint of the key that signed the proof.
func (c *Checked) JKT() string { return c.p.JKT }

// Use records the proof's jti in the replay cache and returns the
// accepted proof. The cache key hashes the key thumbprint with the jti, so
// one client can never burn another's jti and the cache holds a fixed-size
// key whatever the jti (RFC 9449 §11.1); the thumbprint is the entry's
// owner. The entry lives one second past the last instant the proof is
// acceptable (iat + window): "recorded while now < exp" would otherwise
// free it at that very instant. With WithEpochGuard, a proof the cache may
// have seen before its epoch gets a *NonceError.
func (c *Checked) Use(ctx context.Context) (*Proof, error) {
	p := c.p
	h := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	fresh, epoch, err := c.v.cache.Use(ctx, Entry{ID: "dpop:" + hex.EncodeToString(h[:]), Exp: p.IssuedAt.Add(c.v.window + time.Second), Owner: p.JKT})
	if err != nil {
		return nil, fmt.Errorf("dpop: replay check: %w", err)
	}
	if !fresh {
		return nil, protocol.ErrReplayedProof.WithDescription("proof already used")
	}
	if c.v.guard && !c.v.afterEpoch(p, epoch) {
		return nil, &NonceError{Nonce: epoch.Nonce, Err: errReplayWindowReset}
	}
	return p, nil
}

// afterEpoch reports whether p cannot have been seen before epoch: it
// carries the epoch's nonce, or its iat is too late for it to have been
// accepted before the epoch started (at most the future skew ahead of the
// time it was seen).
func (v *Verifier) afterEpoch(p *Proof, epoch Epoch) bool {
	if epoch.Nonce != "" && equal(p.Nonce, epoch.Nonce) {
		return true
	}
	return !p.IssuedAt.Before(epoch.Start.Add(v.future))
}

var errReplayWindowReset = &protocol.Error{Code: protocol.CodeUseDPoPNonce, Reason: protocol.ReasonReplayWindowReset, Status: http.StatusUnauthorized,
	Description: "the replay cache restarted after this proof may have been used; send a new proof with the DPoP-Nonce"}

// NonceError asks for a new proof carrying Nonce (RFC 9449 §8): a server
// answers it with 401, WWW-Authenticate error="use_dpop_nonce" and the
// DPoP-Nonce header. Err is the use_dpop_nonce *protocol.Error.
type NonceError struct {
	Nonce string
	Err   *protocol.Error
}

func (e *NonceError) Error() string { return e.Err.Error() }
func (e *NonceError) Unwrap() error { return e.Err }
