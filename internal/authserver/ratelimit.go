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
// slow_down. Successful grants cost nothing.
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

type rateLimited struct {
	perr       *protocol.Error
	retryAfter time.Duration
}

func (e *rateLimited) Error() string { return e.perr.Error() }
func (e *rateLimited) Unwrap() error { return e.perr }

func (l *failureLimiter) allow(clientID, agentID string) error {
	return l.allowKeys(limiterKeys(clientID, agentID)...)
}

func (l *failureLimiter) failure(clientID, agentID string) {
	l.failKeys(limiterKeys(clientID, agentID)...)
}

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

func limiterKeys(clientID, agentID string) []string {
	keys := []string{"c:" + clientID}
	if agentID != "" && validID(agentID) {
		keys = append(keys, "a:"+clientID+"/"+agentID)
	}
	return keys
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
