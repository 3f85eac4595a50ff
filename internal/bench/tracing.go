package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/ajwt/ajwt/internal/telemetry"
)

// Names of the tracing series.
const (
	NameGrantTraced      = "agent_checksum grant, same step again (SQLite, tracing on)"
	NameViaProxyOff      = "through ajwt proxy, tracing off (hooks installed)"
	NameViaProxyTraced   = "through ajwt proxy, tracing on (OTLP/HTTP to a local collector)"
	collectorStubNoteFmt = "every span exported over OTLP/HTTP to a collector stub on loopback"
)

// collectorStub accepts OTLP/HTTP trace exports and drops them: what an
// exporter costs without a real collector's own work in the figures.
func collectorStub() (*httptest.Server, *atomic.Int64) {
	var exports atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	})), &exports
}

// TracingSeries measures what tracing costs: the agent_checksum grant on
// an IdP exporting a span per request (compare with NameGrant("SQLite") of
// the same run), and the proxy with the tracing hooks
// installed but off, and on (compare both with NameViaProxy).
func TracingSeries(cfg Config) ([]Series, func(), error) {
	stub, exports := collectorStub()
	grant, stopIdP, err := MintSeries(cfg, "SQLite, tracing on", "", "", "--otlp-endpoint", stub.URL)
	if err != nil {
		stub.Close()
		return nil, nil, err
	}
	grant[0].Name, grant[0].Note = NameGrantTraced, grant[0].Note+"; "+collectorStubNoteFmt
	f, err := newFixture()
	if err != nil {
		stopIdP()
		stub.Close()
		return nil, nil, err
	}
	on, err := telemetry.Setup(context.Background(), telemetry.Config{Endpoint: stub.URL, ServiceName: "ajwt-bench-proxy", Getenv: func(string) string { return "" }})
	if err != nil {
		stopIdP()
		stub.Close()
		return nil, nil, err
	}
	ss := []Series{grant[0]}
	var stops []func()
	for _, v := range []struct {
		name    string
		tracing *telemetry.Tracing
	}{{NameViaProxyOff, telemetry.Off()}, {NameViaProxyTraced, on}} {
		s, stop, err := f.proxyGetSeries(cfg, v.name, v.tracing)
		if err != nil {
			break
		}
		ss, stops = append(ss, s), append(stops, stop)
	}
	stopAll := func() {
		for _, s := range stops {
			s()
		}
		_ = on.Shutdown(context.Background())
		stopIdP()
		stub.Close()
		cfg.Progress("collector stub received %d exports", exports.Load())
	}
	if len(ss) != 3 {
		stopAll()
		return nil, nil, err
	}
	return ss, stopAll, nil
}

// proxyGetSeries is the NameViaProxy request through a proxy of its own,
// traced by tracing.
func (f *fixture) proxyGetSeries(cfg Config, name string, tracing *telemetry.Tracing) (Series, func(), error) {
	_, prx, stop, err := f.behindTracedProxy(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"content":"module x"}`)) }), tracing)
	if err != nil {
		return Series{}, nil, err
	}
	return f.getThrough(prx.URL, newHTTP(cfg.Concurrency), name, cfg.Concurrency, cfg.Ops), stop, nil
}
