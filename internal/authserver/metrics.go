package authserver

import (
	"context"
	"net/http"
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

// watchAuditBacklog exports the outbox size, read at every scrape: it
// stays near zero while chaining works and grows when it does not.
func (m *metrics) watchAuditBacklog(b auditBacklogger) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ajwt_audit_outbox_entries", Help: "Committed audit entries not yet in the hash chain (PostgreSQL outbox; 0 on SQLite).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := b.AuditBacklog(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}
