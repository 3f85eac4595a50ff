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
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ajwt/ajwt/dpop"
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
// Its epoch lives in the key <prefix>epoch, written (without expiry) by
// the first use and read by every use in the same script: a Redis that
// lost its data (a restart without persistence, a flush, a failover to a
// replica behind) has lost that key too, and the next use starts a new
// epoch, atomically with recording its id. It has no per-owner share:
// Redis's own memory limit bounds it (maxmemory with noeviction, where a
// full Redis refuses writes, which the enforcer answers 503).
type ReplayCache struct {
	rdb    *redis.Client
	prefix string
}

// NewReplayCache namespaces keys with prefix (e.g. "ajwt:replay:").
func NewReplayCache(rdb *redis.Client, prefix string) *ReplayCache {
	return &ReplayCache{rdb: rdb, prefix: prefix}
}

// epochScript returns the epoch, writing ARGV[1] first when there is none.
const epochScript = `local e = redis.call('GET', KEYS[1])
if not e then e = ARGV[1]; redis.call('SET', KEYS[1], e) end
`

// useScript records KEYS[2] for ARGV[2] ms unless present and returns the
// epoch and 1 when it was fresh.
var useScript = redis.NewScript(epochScript + `if redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return {e, 1} end
return {e, 0}`)

var readEpochScript = redis.NewScript(epochScript + `return e`)

// Use implements dpop.ReplayCache.
func (c *ReplayCache) Use(ctx context.Context, e dpop.Entry) (bool, dpop.Epoch, error) {
	// An id at the edge of its window still blocks its replay briefly.
	ttl := max(time.Until(e.Exp), time.Second)
	res, err := useScript.Run(ctx, c.rdb, []string{c.epochKey(), c.prefix + e.ID}, newEpochValue(), ttl.Milliseconds()).Slice()
	if err != nil {
		return false, dpop.Epoch{}, fmt.Errorf("redisx: replay cache: %w", err)
	}
	if len(res) != 2 {
		return false, dpop.Epoch{}, fmt.Errorf("redisx: replay cache: unexpected reply %v", res)
	}
	raw, _ := res[0].(string)
	epoch, err := parseEpoch(raw)
	if err != nil {
		return false, dpop.Epoch{}, err
	}
	fresh, _ := res[1].(int64)
	return fresh == 1, epoch, nil
}

// Epoch implements dpop.ReplayCache.
func (c *ReplayCache) Epoch(ctx context.Context) (dpop.Epoch, error) {
	raw, err := readEpochScript.Run(ctx, c.rdb, []string{c.epochKey()}, newEpochValue()).Text()
	if err != nil {
		return dpop.Epoch{}, fmt.Errorf("redisx: replay cache epoch: %w", err)
	}
	return parseEpoch(raw)
}

// epochKey is beside the ids, whose keys are the prefix and the id as
// before epochs existed ("dpop:…", "one-time-token:…", never "epoch"), so
// that proxies of both versions share entries during an upgrade.
func (c *ReplayCache) epochKey() string { return c.prefix + "epoch" }

// newEpochValue is the epoch a use starts if Redis holds none: now, in
// milliseconds, and a fresh nonce.
func newEpochValue() string {
	e := dpop.NewEpoch(time.Now())
	return strconv.FormatInt(e.Start.UnixMilli(), 10) + " " + e.Nonce
}

func parseEpoch(raw string) (dpop.Epoch, error) {
	ms, nonce, ok := strings.Cut(raw, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || nonce == "" {
		return dpop.Epoch{}, fmt.Errorf("redisx: replay cache epoch %q malformed", raw)
	}
	return dpop.Epoch{Start: time.UnixMilli(n), Nonce: nonce}, nil
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
