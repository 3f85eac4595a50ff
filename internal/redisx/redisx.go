// Package redisx shares state between ajwt nodes through Redis: the DPoP
// and one-time-token replay cache (SET NX with expiry) and fan-out of
// revocations (pub/sub), so a revocation on any IdP reaches every proxy at
// once. The revocation feed stays the source of truth; pub/sub only makes
// it faster.
package redisx

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ajwt/ajwt/middleware"
)

// Open connects to redisURL (redis://host:port/db) and checks it answers.
func Open(ctx context.Context, redisURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redisx: %w", err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisx: %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

// ReplayCache is a dpop.ReplayCache shared by every node using the same
// Redis: SET key NX with the id's remaining lifetime, atomic on the server.
type ReplayCache struct {
	rdb    *redis.Client
	prefix string
}

// NewReplayCache namespaces keys with prefix (e.g. "ajwt:replay:").
func NewReplayCache(rdb *redis.Client, prefix string) *ReplayCache {
	return &ReplayCache{rdb: rdb, prefix: prefix}
}

// Use implements dpop.ReplayCache.
func (c *ReplayCache) Use(ctx context.Context, id string, exp time.Time) (bool, error) {
	ttl := time.Until(exp)
	if ttl < time.Second {
		ttl = time.Second // an id at the edge of its window still blocks its replay briefly
	}
	ok, err := c.rdb.SetNX(ctx, c.prefix+id, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisx: replay cache: %w", err)
	}
	return ok, nil
}

// Channel is the pub/sub channel revocations travel on.
const Channel = "ajwt:revocations"

// Publish announces revocations to every subscribed enforcer.
func Publish(ctx context.Context, rdb *redis.Client, entries []middleware.FeedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	msg, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	return rdb.Publish(ctx, Channel, msg).Err()
}

// Subscribe feeds revocations from Redis into r until stop is called.
func Subscribe(ctx context.Context, rdb *redis.Client, r *middleware.Revocations, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	sub := rdb.Subscribe(ctx, Channel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			var entries []middleware.FeedEntry
			if err := json.Unmarshal([]byte(msg.Payload), &entries); err != nil {
				log.Warn("redis revocation message ignored", "err", err)
				continue
			}
			r.Add(entries)
		}
	}()
	return func() { cancel(); sub.Close(); <-done }
}
