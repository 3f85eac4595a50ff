package authserver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ajwt/ajwt/protocol"
)

// metrics lives in its own registry: no global state, several servers per
// process (tests) never collide.
type metrics struct {
	reg      *prometheus.Registry
	issuedC  *prometheus.CounterVec
	refusedC *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issuedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ajwt_tokens_issued_total", Help: "Access tokens issued, by grant.",
		}, []string{"grant"}),
		refusedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ajwt_tokens_refused_total", Help: "Token requests refused, by grant and OAuth error code.",
		}, []string{"grant", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ajwt_http_request_duration_seconds", Help: "Request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.issuedC, m.refusedC, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(route string, d time.Duration) {
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) issued(grant string) { m.issuedC.WithLabelValues(grant).Inc() }

func (m *metrics) refused(grant string, err error) {
	_, wire := protocol.Wire(err)
	m.refusedC.WithLabelValues(grant, wire.Error).Inc()
}

// auditBacklogger is a store whose audit entries may wait in an outbox
// before joining the chain (sqlstore on PostgreSQL).
type auditBacklogger interface {
	AuditBacklog(ctx context.Context) (int, error)
}

// backlogRefresh is how old the outbox gauge may be: it moves in tens of
// milliseconds when chaining works and only grows when it does not, so a
// few seconds tell the same story as a fresh count.
const backlogRefresh = 5 * time.Second

// watchAuditBacklog exports the outbox size. The count is a query
// (count(*) on PostgreSQL): it is made at most once per backlogRefresh,
// by one scrape at a time, and every other scrape reads the last value,
// so a dozen Prometheus servers cost the store what one does.
func (m *metrics) watchAuditBacklog(b auditBacklogger, now func() time.Time) {
	g := &cachedGauge{ttl: backlogRefresh, now: now, read: func(ctx context.Context) (float64, error) {
		n, err := b.AuditBacklog(ctx)
		return float64(n), err
	}}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ajwt_audit_outbox_entries", Help: "Committed audit entries not yet in the hash chain (PostgreSQL outbox; 0 on SQLite; -1 when it cannot be read). Refreshed at most every 5 s.",
	}, g.value))
}

// cachedGauge is a gauge whose value costs a query: it is read again only
// when older than ttl, and by one caller while the others wait for it.
type cachedGauge struct {
	ttl  time.Duration
	now  func() time.Time
	read func(context.Context) (float64, error)

	mu   sync.Mutex // held during the read: one query at a time
	val  float64
	at   time.Time
	have bool
}

func (g *cachedGauge) value() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.have && g.now().Sub(g.at) < g.ttl {
		return g.val
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := g.read(ctx)
	if err != nil {
		v = -1 // a failing store is not asked again before ttl either
	}
	g.val, g.at, g.have = v, g.now(), true
	return v
}
