package console

import (
	"testing"
	"time"
)

func TestSessionTimeouts(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s := newSessions(30*time.Minute, 2*time.Hour, 3, clock)
	id, err := s.start("alice")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		touch   bool
		alive   bool
	}{
		{29 * time.Minute, true, true},  // active: idle clock restarts
		{29 * time.Minute, false, true}, // a background refresh…
		{2 * time.Minute, false, false}, // …does not keep it alive: idle since the last page
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if _, ok := s.get(id, st.touch); ok != st.alive {
			t.Fatalf("step %d: alive %v, want %v", i, ok, st.alive)
		}
	}
	id, _ = s.start("alice")
	for range 5 { // active every 25 minutes, but 2 h is the most a session lives
		now = now.Add(25 * time.Minute)
		s.get(id, true)
	}
	if _, ok := s.get(id, true); ok {
		t.Fatal("session outlived max_session")
	}
	if _, ok := s.get("", true); ok {
		t.Fatal("empty cookie accepted")
	}
}

func TestSessionTableBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSessions(time.Minute, time.Hour, 2, func() time.Time { return now })
	for range 2 {
		if _, err := s.start("alice"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.start("alice"); err != errTooManySessions {
		t.Fatalf("third session: %v", err)
	}
	now = now.Add(2 * time.Minute) // both idle out: room again
	if _, err := s.start("alice"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/runs?status=active": "/console/runs?status=active",
		"":                            "/console/inbox",
		"https://evil.example/":       "/console/inbox",
		"//evil.example/console/":     "/console/inbox",
		"/console\\..\\x":             "/console/inbox",
		"/consolex":                   "/console/inbox",
		"/console/x\r\nSet-Cookie: a": "/console/inbox",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
