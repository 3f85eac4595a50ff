package dpop_test

import (
	"testing"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/dpop/dpoptest"
)

func TestMemoryReplayCacheSuite(t *testing.T) {
	dpoptest.ReplayCacheSuite(t, func(*testing.T) dpop.ReplayCache { return dpop.NewMemoryReplayCache(10_000, nil) })
}
