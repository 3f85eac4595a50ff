package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
)

// restartGuard is WithRestartGuard's setting.
type restartGuard struct {
	futureSkew time.Duration
}

// DefaultFutureSkew is how far ahead of the enforcer's clock a proof's
// iat may be under WithRestartGuard, and so how long after each restart
// of the replay cache proofs made without its nonce are refused.
const DefaultFutureSkew = 5 * time.Second

// WithRestartGuard closes the replay windows a restart would reopen: a
// memory replay cache forgets every jti when the process restarts, and a
// Redis one when Redis loses its data. Proofs may then be at most
// futureSkew ahead of the enforcer's clock (they may still be up to the
// iat window old); a proof the cache may have seen before its epoch — iat
// before the epoch's start plus futureSkew — gets 401 use_dpop_nonce
// (reason replay_window_reset) with a DPoP-Nonce that a fresh proof
// carries to be accepted, and a one-time token issued before the epoch
// (plus the leeway) is refused (invalid_token, replay_window_reset).
// WaitReplayWindow lets a server start serving only once proofs made
// without the nonce pass again.
func WithRestartGuard(futureSkew time.Duration) Option {
	return func(c *config) error {
		if futureSkew < 0 || futureSkew > protocol.DefaultIATSkew {
			return fmt.Errorf("middleware: future skew %s outside 0–60 s", futureSkew)
		}
		c.guard = &restartGuard{futureSkew: futureSkew}
		return nil
	}
}

// WaitReplayWindow returns once proofs made now are accepted without the
// replay cache's nonce: at once without WithRestartGuard or when the
// cache's epoch is older than the future skew, otherwise when it is — and
// the next whole second, as clients write iat in whole seconds.
func (e *Enforcer) WaitReplayWindow(ctx context.Context) error {
	if e.guard == nil {
		return nil
	}
	epoch, err := e.replay.Epoch(ctx)
	if err != nil {
		return err
	}
	open := epoch.Start.Add(e.guard.futureSkew)
	if t := open.Truncate(time.Second); !t.Equal(open) {
		open = t.Add(time.Second)
	}
	wait := open.Sub(e.now())
	if wait <= 0 {
		return nil
	}
	e.log.Info("replay cache epoch started recently; waiting before serving", "epoch", epoch.Start, "wait", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry-After values: a cache error is transient (an unreachable Redis,
// entries about to expire); a key over its share floods and should wait
// for its entries to expire.
const (
	retryUnavailable = time.Second
	retryQuota       = 10 * time.Second
)

var (
	errReplayQuota = &protocol.Error{Code: protocol.CodeSlowDown, Reason: protocol.ReasonReplayQuota, Status: http.StatusTooManyRequests,
		Description: "too many requests with this proof key; retry later"}
	errReplayUnavailable = &protocol.Error{Code: protocol.CodeTemporarilyUnavailable, Reason: protocol.ReasonReplayCacheUnavailable,
		Status: http.StatusServiceUnavailable, Description: "the replay cache cannot take the request now; retry later"}
)

// replayCacheErr keeps protocol errors (a replay, a nonce challenge) and
// turns the cache's own failures into 429 (a key over its share) or 503
// (a full or unreachable cache) with Retry-After: never a 500, and never
// the cause (a Redis address) on the wire; the cause stays in the chain
// for logs.
func replayCacheErr(err error) error {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return err
	case errors.Is(err, dpop.ErrOwnerFull):
		return &retryLater{err: withCause(errReplayQuota, err), after: retryQuota}
	default:
		return &retryLater{err: withCause(errReplayUnavailable, err), after: retryUnavailable}
	}
}

func withCause(pe *protocol.Error, cause error) *protocol.Error {
	c := *pe
	c.Err = cause
	return &c
}

// retryLater is a refusal the client may retry after a while: WriteError
// sends Retry-After.
type retryLater struct {
	err   *protocol.Error
	after time.Duration
}

func (e *retryLater) Error() string { return e.err.Error() }
func (e *retryLater) Unwrap() error { return e.err }
