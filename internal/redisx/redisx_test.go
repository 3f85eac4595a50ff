package redisx

import (
	"context"
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
	if err := Publish(context.Background(), rdb, []middleware.FeedEntry{{Type: "agent", ID: "patcher", At: now.Unix()}}); err != nil {
		t.Fatal(err)
	}
	claims := &token.Claims{Subject: "patcher", IssuedAt: now.Unix() - 1, Cnf: &token.Confirmation{JKT: "x"}}
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
}

func isAgentRevoked(err error) bool {
	pe, ok := err.(*protocol.Error)
	return ok && pe.Reason == protocol.ReasonAgentRevoked
}
