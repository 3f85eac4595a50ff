package redisx

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/dpop/dpoptest"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

func TestReplayCacheMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	n := 0
	dpoptest.ReplayCacheSuite(t, func(*testing.T) dpop.ReplayCache {
		n++
		// miniredis keeps time still unless told: advance it with the real clock.
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					mr.FastForward(100 * time.Millisecond)
				}
			}
		}()
		return NewReplayCache(rdb, "t"+string(rune('a'+n))+":")
	})
}

// TestReplayCacheRealRedis runs the same suite against the machine's Redis
// (AJWT_TEST_REDIS), as the multi-node deployment uses it.
func TestReplayCacheRealRedis(t *testing.T) {
	url := os.Getenv("AJWT_TEST_REDIS")
	if url == "" {
		t.Skip("SKIPPED: AJWT_TEST_REDIS is not set; the Redis replay cache was NOT tested against a real Redis")
	}
	rdb, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	prefix := "ajwt-test:" + time.Now().Format("150405.000000") + ":"
	n := 0
	dpoptest.ReplayCacheSuite(t, func(*testing.T) dpop.ReplayCache { n++; return NewReplayCache(rdb, prefix+string(rune('a'+n))+":") })
}

func TestRevocationFanout(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	r := middleware.NewRevocations("http://unused.example/feed", nil, time.Now, slog.New(slog.DiscardHandler))
	stop := Subscribe(context.Background(), rdb, r, slog.New(slog.DiscardHandler))
	defer stop()
	time.Sleep(50 * time.Millisecond) // let the subscription start
	now := time.Now()
	// A re-registration (version) and a revoked agent: the version member
	// must travel too.
	if err := Publish(context.Background(), rdb, []middleware.FeedEntry{{Type: "agent", ID: "planner", At: now.Unix(), Version: 1},
		{Type: "agent", ID: "patcher", At: now.Unix()}}); err != nil {
		t.Fatal(err)
	}
	claims := intentClaims("patcher", now.Unix()-1)
	deadline := time.Now().Add(2 * time.Second)
	for r.Check(claims) == nil {
		if time.Now().After(deadline) {
			t.Fatal("revocation did not arrive through pub/sub")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Check(claims); err == nil || !isAgentRevoked(err) {
		t.Fatalf("err = %v", err)
	}
	if err := r.Check(intentClaims("planner", now.Unix()-1)); err == nil || !errors.Is(err, protocol.ErrTokenRevoked) {
		t.Fatalf("token of a re-registered agent: err = %v", err)
	}
}

func intentClaims(agent string, iat int64) *token.Claims {
	return &token.Claims{Subject: agent, ClientID: "app", IssuedAt: iat, ID: "jti-" + agent, Cnf: &token.Confirmation{JKT: "x"},
		AgentProof: &token.AgentProof{Version: 1}, Intent: &token.Intent{ExecutedBy: agent, DelegationChain: []string{agent}}}
}

func isAgentRevoked(err error) bool {
	pe, ok := err.(*protocol.Error)
	return ok && pe.Reason == protocol.ReasonAgentRevoked
}
