package telemetry

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/protocol"
)

// An enforced request's span starts once the enforcer has decided (only
// then is the run known, from the token) and ends with the response.

type pending struct {
	start time.Time
	span  trace.Span
}

type pendingKey struct{}

// Enforced wraps an enforcing handler (the proxy, or an app behind the
// middleware) so that ResultHook's span ends with the response.
func (t *Tracing) Enforced(next http.Handler) http.Handler {
	if !t.On() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &pending{start: time.Now()}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), pendingKey{}, p)))
		if p.span != nil {
			p.span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
			p.span.End()
		}
	})
}

// ResultHook starts the request's span, in the run's trace for an intent
// token (chain it into middleware.WithResultHook), and writes its trace
// context into the request's headers, which the proxy forwards: the
// upstream's own spans join the run's trace.
func (t *Tracing) ResultHook(r *http.Request, v *middleware.Verified, err error) {
	p, ok := r.Context().Value(pendingKey{}).(*pending)
	if !t.On() || !ok {
		return
	}
	var run string
	var attrs []attribute.KeyValue
	if v != nil && v.Claims != nil {
		c := v.Claims
		attrs = append(attrs, AttrClient.String(c.ClientID))
		if c.IsIntent() {
			run = c.Intent.RunID
			attrs = append(attrs, AttrAgent.String(c.Subject), AttrStep.String(c.Intent.WorkflowStep),
				AttrWorkflow.String(c.Intent.WorkflowID))
		}
		if c.AgentProof != nil {
			attrs = append(attrs, AttrChecksum.String(c.AgentProof.AgentChecksum))
		}
		if v.MCP != nil && v.MCP.Tool != "" {
			attrs = append(attrs, AttrTool.String(clip(v.MCP.Tool, 128)))
		}
	}
	ctx, span := t.Start(r.Context(), r.Header, "ajwt.enforce "+r.Method, run, p.start, trace.SpanKindServer, attrs...)
	var code, reason string
	if err != nil {
		_, wire := protocol.Wire(err)
		code, reason = wire.Error, wire.Reason
	}
	Outcome(span, code, reason)
	p.span = span
	t.Inject(ctx, r.Header)
}

// SpanIDs are the trace and span ids of the request's enforcement span,
// for its log line ("" when tracing is off).
func SpanIDs(r *http.Request) (traceID, spanID string) {
	p, ok := r.Context().Value(pendingKey{}).(*pending)
	if !ok || p.span == nil {
		return "", ""
	}
	sc := p.span.SpanContext()
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps event streams streaming through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
