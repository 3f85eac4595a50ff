// Package telemetry is ajwt's OpenTelemetry tracing: off by default at no
// cost, on with the standard OTEL_* environment or a flag. A workflow run
// is one trace: its trace id and root span id derive from the run id, so
// the IdP, every proxy and every middleware put their spans of a run into
// the same trace without sharing any state.
//
// Spans never carry a token, a proof, a secret, a prompt or a substitution
// value: only the identifiers of Attr* below and decisions.
package telemetry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Attribute keys of ajwt spans.
const (
	AttrRun      = attribute.Key("ajwt.run")
	AttrWorkflow = attribute.Key("ajwt.workflow")
	AttrStep     = attribute.Key("ajwt.step")
	AttrAgent    = attribute.Key("ajwt.agent")
	AttrChecksum = attribute.Key("ajwt.checksum")
	AttrClient   = attribute.Key("ajwt.client")
	AttrDecision = attribute.Key("ajwt.decision") // allow or deny
	AttrReason   = attribute.Key("ajwt.reason")
	AttrError    = attribute.Key("ajwt.error")
	AttrTool     = attribute.Key("ajwt.tool")
)

// Config turns tracing on. Zero: the OTEL_* environment decides (on when
// OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint is set; off otherwise and
// whenever OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none).
type Config struct {
	Endpoint    string // OTLP endpoint URL (http://collector:4318 or, with Protocol grpc, http://collector:4317)
	Protocol    string // "http/protobuf" (default) or "grpc"
	ServiceName string // resource service.name; OTEL_SERVICE_NAME wins
	Getenv      func(string) string
}

// Tracing is one process's tracer; the zero value and Off trace nothing.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Off traces nothing, at the cost of one nil check per request.
func Off() *Tracing { return &Tracing{} }

// On reports whether spans are recorded.
func (t *Tracing) On() bool { return t != nil && t.tp != nil }

// Setup starts tracing when cfg or the environment asks for it.
func Setup(ctx context.Context, cfg Config) (*Tracing, error) {
	env := cfg.Getenv
	if env == nil {
		env = os.Getenv
	}
	if !wanted(cfg, env) {
		return Off(), nil
	}
	exp, err := exporter(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	name := cfg.ServiceName
	if v := env("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	res := resource.NewSchemaless(attribute.String("service.name", name))
	return New(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// New traces with the given provider options (tests pass an in-memory
// exporter with sdktrace.WithSyncer).
func New(opts ...sdktrace.TracerProviderOption) *Tracing {
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithIDGenerator(runIDs{}))...)
	return &Tracing{tp: tp, tracer: tp.Tracer("github.com/ajwt/ajwt"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
}

func wanted(cfg Config, env func(string) string) bool {
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") || env("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return cfg.Endpoint != "" || env("OTEL_TRACES_EXPORTER") == "otlp" ||
		env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func exporter(ctx context.Context, cfg Config, env func(string) string) (sdktrace.SpanExporter, error) {
	proto := cfg.Protocol
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if proto == "" {
			proto = env(k)
		}
	}
	switch proto {
	case "", "http/protobuf":
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		}
		return otlptracehttp.New(ctx, opts...)
	case "grpc":
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	return nil, fmt.Errorf("telemetry: OTLP protocol %q: want http/protobuf or grpc", proto)
}

// Shutdown flushes the spans still buffered.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.On() {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// RunContext is the span context a run's spans hang off: trace id and
// root span id derived from the run id.
func RunContext(runID string) trace.SpanContext {
	sum := sha256.Sum256([]byte("ajwt run trace\x00" + runID))
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], sum[:16])
	copy(sid[:], sum[16:24])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// runIDs makes random ids, except for the root span of a run, whose ids
// RunContext fixes.
type runIDs struct{}

type forcedIDs struct{}

func (runIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if sc, ok := ctx.Value(forcedIDs{}).(trace.SpanContext); ok {
		return sc.TraceID(), sc.SpanID()
	}
	var tid trace.TraceID
	_, _ = rand.Read(tid[:])
	return tid, randomSpanID()
}

func (runIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	_, _ = rand.Read(sid[:])
	return sid
}

// StartRun records the root span of a new run (the trace's first span),
// linked to the caller's trace when the request brought one.
func (t *Tracing) StartRun(ctx context.Context, h http.Header, runID string, at time.Time, attrs ...attribute.KeyValue) {
	if !t.On() {
		return
	}
	caller := t.prop.Extract(context.Background(), propagation.HeaderCarrier(h))
	var links []trace.Link
	if sc := trace.SpanContextFromContext(caller); sc.IsValid() {
		links = append(links, trace.Link{SpanContext: sc})
	}
	root := context.WithValue(context.Background(), forcedIDs{}, RunContext(runID))
	_, span := t.tracer.Start(root, "ajwt.run", trace.WithNewRoot(), trace.WithTimestamp(at), trace.WithLinks(links...),
		trace.WithAttributes(append(attrs, AttrRun.String(runID))...))
	span.End(trace.WithTimestamp(at))
}

// Start begins a span of a request about runID (empty: none). Its parent
// is the caller's trace context from h when the caller brought one, with a
// link to the run's trace; otherwise the run's root span.
func (t *Tracing) Start(ctx context.Context, h http.Header, name, runID string, at time.Time, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.On() {
		return ctx, noop.Span{}
	}
	parent := t.prop.Extract(ctx, propagation.HeaderCarrier(h))
	opts := []trace.SpanStartOption{trace.WithTimestamp(at), trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
	if runID != "" {
		opts = append(opts, trace.WithAttributes(AttrRun.String(runID)))
		run := RunContext(runID)
		if trace.SpanContextFromContext(parent).IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: run}))
		} else {
			parent = trace.ContextWithRemoteSpanContext(parent, run)
		}
	}
	return t.tracer.Start(parent, name, opts...)
}

// Inject writes ctx's trace context into h (traceparent, tracestate).
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if t.On() {
		t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Outcome sets the decision attributes of a finished request: allow, or
// deny with the protocol's error and reason.
func Outcome(span trace.Span, errCode, reason string) {
	if errCode == "" {
		span.SetAttributes(AttrDecision.String("allow"))
		return
	}
	span.SetAttributes(AttrDecision.String("deny"), AttrError.String(errCode))
	if reason != "" {
		span.SetAttributes(AttrReason.String(reason))
	}
}
