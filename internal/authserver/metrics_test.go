package authserver

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// backlogCounter is the real store counting AuditBacklog queries (a
// count(*) on PostgreSQL).
type backlogCounter struct {
	store.Store
	queries atomic.Int64
}

func (b *backlogCounter) AuditBacklog(ctx context.Context) (int, error) {
	b.queries.Add(1)
	return 7, nil
}

// TestMetricsScrapesShareOneBacklogQuery: however many scrapers there are,
// the outbox gauge costs the store at most one query per refresh period.
func TestMetricsScrapesShareOneBacklogQuery(t *testing.T) {
	var bc *backlogCounter
	h, _ := newHarnessOver(t, testConfig, Options{}, func(now func() time.Time) store.Store {
		bc = &backlogCounter{Store: storeKinds(t)["sqlite"](t)(now)}
		return bc
	})
	scrape := func() string {
		res, err := h.ts.Client().Get(h.issuer + "/metrics")
		if err != nil {
			t.Error(err)
			return ""
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return string(body)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if out := scrape(); !strings.Contains(out, "ajwt_audit_outbox_entries 7") {
				t.Errorf("gauge missing from the scrape:\n%s", out)
			}
		})
	}
	wg.Wait()
	if n := bc.queries.Load(); n != 1 {
		t.Fatalf("16 scrapes ran %d backlog queries, want 1", n)
	}
	h.clock.Advance(time.Minute)
	scrape()
	if n := bc.queries.Load(); n != 2 {
		t.Fatalf("a scrape after the refresh period: %d queries in all, want 2", n)
	}
}
