package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// session is one operator's login. The map holds the SHA-256 of the
// cookie value, never the value: reading the process memory (a heap dump,
// a debug endpoint) does not yield a usable cookie.
type session struct {
	username string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessions is the in-memory session table of one console process. A
// restart logs everyone out, and several IdP nodes each have their own
// table (docs/CONSOLE.md: put the console behind sticky sessions or one node).
type sessions struct {
	mu      sync.Mutex
	byHash  map[[32]byte]*session
	idle    time.Duration
	maxAge  time.Duration
	maxSize int
	now     func() time.Time
}

var errTooManySessions = errors.New("too many console sessions; try again later")

func newSessions(idle, maxAge time.Duration, maxSize int, now func() time.Time) *sessions {
	return &sessions{byHash: map[[32]byte]*session{}, idle: idle, maxAge: maxAge, maxSize: maxSize, now: now}
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// start opens a session for username and returns its cookie value.
func (s *sessions) start(username string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byHash) >= s.maxSize {
		s.evictExpired()
		if len(s.byHash) >= s.maxSize {
			return "", errTooManySessions
		}
	}
	id := randomToken()
	now := s.now()
	s.byHash[sha256.Sum256([]byte(id))] = &session{username: username, csrf: randomToken(), created: now, lastSeen: now}
	return id, nil
}

// get returns the live session of a cookie value. touch marks activity:
// pages the operator opens do, the background refresh of an open page
// does not, so that an unattended tab still times out.
func (s *sessions) get(id string, touch bool) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byHash[key]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if s.expired(se, now) {
		delete(s.byHash, key)
		return session{}, false
	}
	if touch {
		se.lastSeen = now
	}
	return *se, true
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastSeen) >= s.idle || now.Sub(se.created) >= s.maxAge
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, sha256.Sum256([]byte(id)))
}

func (s *sessions) evictExpired() {
	now := s.now()
	for k, se := range s.byHash {
		if s.expired(se, now) {
			delete(s.byHash, k)
		}
	}
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
