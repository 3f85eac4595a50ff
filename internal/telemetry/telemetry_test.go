package telemetry

import (
	"context"
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestWanted(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  map[string]string
		want bool
	}{
		{"nothing set", Config{}, nil, false},
		{"flag", Config{Endpoint: "http://collector:4318"}, nil, true},
		{"exporter otlp", Config{}, map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"endpoint env", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"traces endpoint env", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"sdk disabled wins", Config{Endpoint: "http://c:4318"}, map[string]string{"OTEL_SDK_DISABLED": "TRUE"}, false},
		{"exporter none wins", Config{}, map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, false},
	}
	for _, tt := range tests {
		env := func(k string) string { return tt.env[k] }
		if got := wanted(tt.cfg, env); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := Setup(t.Context(), Config{Endpoint: "http://127.0.0.1:1", Protocol: "carrier-pigeon", Getenv: func(string) string { return "" }}); err == nil {
		t.Error("an unknown OTLP protocol was accepted")
	}
	off, err := Setup(t.Context(), Config{Getenv: func(string) string { return "" }})
	if err != nil || off.On() {
		t.Errorf("without configuration tracing is %v (%v)", off.On(), err)
	}
}

func TestRunContext(t *testing.T) {
	a, b := RunContext("run-1"), RunContext("run-1")
	if !a.Equal(b) || !a.IsValid() || !a.IsRemote() || !a.IsSampled() {
		t.Fatalf("run context %v vs %v", a, b)
	}
	if RunContext("run-2").TraceID() == a.TraceID() {
		t.Fatal("two runs share a trace")
	}
}

// TestSpanParents: without a caller's trace a run's span hangs off the
// run's root; with one it hangs off the caller's and links the run.
func TestSpanParents(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := New(sdktrace.WithSyncer(exp))
	now := time.Now()
	tr.StartRun(context.Background(), http.Header{}, "r1", now)
	_, s := tr.Start(context.Background(), http.Header{}, "plain", "r1", now, trace.SpanKindServer)
	s.End()
	caller := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	_, s = tr.Start(context.Background(), caller, "with caller", "r1", now, trace.SpanKindServer)
	s.End()
	run := RunContext("r1")
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	root, plain, withCaller := spans[0], spans[1], spans[2]
	if root.SpanContext.TraceID() != run.TraceID() || root.SpanContext.SpanID() != run.SpanID() || root.Parent.IsValid() {
		t.Errorf("root span %v parent %v, want the run's own ids and no parent", root.SpanContext, root.Parent)
	}
	if plain.Parent.SpanID() != run.SpanID() || plain.SpanContext.TraceID() != run.TraceID() {
		t.Errorf("span without a caller: parent %v", plain.Parent)
	}
	if withCaller.Parent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || len(withCaller.Links) != 1 ||
		withCaller.Links[0].SpanContext.TraceID() != run.TraceID() {
		t.Errorf("span with a caller: parent %v links %v", withCaller.Parent, withCaller.Links)
	}
	out := http.Header{}
	tr.Inject(trace.ContextWithSpanContext(context.Background(), plain.SpanContext), out)
	if out.Get("Traceparent") == "" {
		t.Error("Inject wrote no traceparent")
	}
}
