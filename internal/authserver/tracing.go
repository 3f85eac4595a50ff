package authserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ajwt/ajwt/internal/telemetry"
	"github.com/ajwt/ajwt/protocol"
)

// reqInfo is what a handler learned about its request that the span and
// the log line report: identifiers only, never a credential or a body.
type reqInfo struct {
	run, workflow, step, agent, checksum, client string
}

type reqInfoKey struct{}

// noted returns the request's info for a handler to fill in (a throwaway
// outside instrument, e.g. in tests calling handlers directly).
func noted(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

var checksumRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// noteGrant records the identifiers of a token request once its client is
// known; values the caller sent are kept only when they are well formed.
func noteGrant(ctx context.Context, clientID string, form url.Values) {
	i := noted(ctx)
	i.client = clientID
	if a := form.Get("agent_id"); validID(a) {
		i.agent = a
	}
	i.run, i.step = safeRef(form.Get("run_id")), safeRef(form.Get("workflow_step"))
	if sum := form.Get("agent_checksum"); checksumRE.MatchString(sum) {
		i.checksum = sum
	}
}

func (i *reqInfo) attrs() []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range []struct {
		k attribute.Key
		v string
	}{{telemetry.AttrWorkflow, i.workflow}, {telemetry.AttrStep, i.step}, {telemetry.AttrAgent, i.agent},
		{telemetry.AttrChecksum, i.checksum}, {telemetry.AttrClient, i.client}} {
		if kv.v != "" {
			out = append(out, kv.k.String(kv.v))
		}
	}
	return out
}

// logAttrs are the request log line's identifiers and trace ids.
func (i *reqInfo) logAttrs(span trace.Span) []slog.Attr {
	var out []slog.Attr
	if sc := span.SpanContext(); sc.IsValid() {
		out = append(out, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	for _, kv := range []struct{ k, v string }{{"run", i.run}, {"step", i.step}, {"agent", i.agent}, {"client", i.client}} {
		if kv.v != "" {
			out = append(out, slog.String(kv.k, kv.v))
		}
	}
	return out
}

// traceRequest records the span of a finished request, started at start,
// in the run's trace when it was about a run.
func (s *Server) traceRequest(r *http.Request, route string, info *reqInfo, start time.Time, status int, err error) trace.Span {
	if !s.tracing.On() {
		return trace.SpanFromContext(context.Background())
	}
	_, span := s.tracing.Start(r.Context(), r.Header, "ajwt.idp "+route, info.run, start, trace.SpanKindServer, info.attrs()...)
	var code, reason string
	if err != nil {
		_, wire := protocol.Wire(err)
		code, reason = wire.Error, wire.Reason
	}
	telemetry.Outcome(span, code, reason)
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	span.End()
	return span
}

// traceAction records the span of something done outside an HTTP request
// of the API (a console decision), in the run's trace.
func (s *Server) traceAction(ctx context.Context, name, runID, stepID string, start time.Time, err error) {
	if !s.tracing.On() {
		return
	}
	_, span := s.tracing.Start(ctx, nil, name, runID, start, trace.SpanKindInternal,
		telemetry.AttrStep.String(stepID), telemetry.AttrClient.String(ConsoleApprover))
	var code, reason string
	if err != nil {
		_, wire := protocol.Wire(err)
		code, reason = wire.Error, wire.Reason
	}
	telemetry.Outcome(span, code, reason)
	span.End()
}
