package authserver

import (
	"net/http"
	"sync"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// failureLimiter throttles clients and agents that keep failing grants
// (§6.2): each key has a bucket of perMinute failures that refills
// continuously; while a bucket is empty every grant for that key gets 429
// slow_down. Successful grants cost nothing, and so do failures that were
// not the caller's (callerFault). The same buckets, charged per action
// with take, make a quota (runs created per client).
type failureLimiter struct {
	perMinute float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxLimiterKeys = 100_000

func newFailureLimiter(perMinute int, now func() time.Time) *failureLimiter {
	return &failureLimiter{perMinute: float64(perMinute), now: now, buckets: map[string]*bucket{}}
}

// rateLimited is a refusal the caller may retry after retryAfter (429
// slow_down, 503 temporarily_unavailable): writeError sends Retry-After.
type rateLimited struct {
	perr       *protocol.Error
	retryAfter time.Duration
}

func (e *rateLimited) Error() string { return e.perr.Error() }
func (e *rateLimited) Unwrap() error { return e.perr }

// allowKeys refuses while any of keys has no failure left.
func (l *failureLimiter) allowKeys(keys ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range keys {
		b := l.refill(key)
		if b.tokens < 1 {
			wait := time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute))
			return &rateLimited{
				perr:       &protocol.Error{Code: protocol.CodeSlowDown, Status: http.StatusTooManyRequests, Description: "too many failures; retry later"},
				retryAfter: wait,
			}
		}
	}
	return nil
}

// failKeys charges one failure to each of keys.
func (l *failureLimiter) failKeys(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range keys {
		l.refill(key).tokens--
	}
}

// take charges one to key, or refuses (429 slow_down, saying what is
// limited) when its bucket is empty: a quota of actions rather than a
// limit on failures.
func (l *failureLimiter) take(key, what string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens < 1 {
		return &rateLimited{
			perr:       &protocol.Error{Code: protocol.CodeSlowDown, Status: http.StatusTooManyRequests, Description: "too many " + what + "; retry later"},
			retryAfter: time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute)),
		}
	}
	b.tokens--
	return nil
}

// refund gives back what take charged for an action that did not happen
// for a reason of ours.
func (l *failureLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens = min(l.perMinute, b.tokens+1)
}

// grantKey is the failure bucket of a token request. An agent_checksum
// grant naming a well-formed agent is charged to that agent alone
// (client/agent): one misbehaving agent cannot lock out the client's
// other agents or its client_credentials. Everything else (client
// credentials, token exchange, a grant without a usable agent_id) is the
// client's.
func grantKey(clientID, grant, agentID string) string {
	if grant == protocol.GrantAgentChecksum && validID(agentID) {
		return "a:" + clientID + "/" + agentID
	}
	return "c:" + clientID
}

// refill returns key's bucket topped up for the time passed; the caller
// holds l.mu.
func (l *failureLimiter) refill(key string) *bucket {
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterKeys {
			l.evictFull(now)
		}
		b = &bucket{tokens: l.perMinute, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.perMinute, b.tokens+now.Sub(b.last).Minutes()*l.perMinute)
	b.last = now
	return b
}

// evictFull drops buckets that have refilled completely: forgetting them
// changes nothing.
func (l *failureLimiter) evictFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Minutes()*l.perMinute >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}

// requestLimiter bounds every client's token requests (successful or not)
// to perSecond with a burst of one second's worth: one client cannot
// monopolise the IdP.
type requestLimiter struct {
	perSecond float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newRequestLimiter(perSecond int, now func() time.Time) *requestLimiter {
	return &requestLimiter{perSecond: float64(perSecond), now: now, buckets: map[string]*bucket{}}
}

func (l *requestLimiter) allow(clientID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[clientID]
	if b == nil {
		b = &bucket{tokens: l.perSecond, last: now}
		l.buckets[clientID] = b // clients come from the configuration: bounded
	}
	b.tokens = min(l.perSecond, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	b.last = now
	if b.tokens < 1 {
		return &rateLimited{
			perr:       &protocol.Error{Code: protocol.CodeSlowDown, Status: http.StatusTooManyRequests, Description: "too many token requests; retry later"},
			retryAfter: time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second)),
		}
	}
	b.tokens--
	return nil
}
