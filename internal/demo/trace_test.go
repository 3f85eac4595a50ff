package demo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ajwt/ajwt/internal/telemetry"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunIsOneTrace: the demo's run — grants, completions, the approval,
// the proxied API calls and what reaches the APIs — is one trace, with
// the identifiers as attributes, and no span or log line holds a token, a
// proof, a secret or a prompt.
func TestRunIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracing := telemetry.New(sdktrace.WithSyncer(exp))
	logs := &lockedBuffer{}
	var mu sync.Mutex
	var upstream []string // traceparents the APIs received
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			upstream = append(upstream, r.Header.Get("Traceparent"))
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}
	ctx := context.Background()
	e, err := StartWith(ctx, AJWT, t.TempDir(), Setup{Tracing: tracing, Logger: slog.New(slog.NewJSONHandler(logs, nil)), WrapAPIs: wrap})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out, err := e.RunWorkflow(ctx, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	runTrace := telemetry.RunContext(out.RunID).TraceID()
	names := map[string]int{}
	for _, s := range exp.GetSpans() {
		if attr(s, telemetry.AttrRun) != out.RunID {
			continue
		}
		if s.SpanContext.TraceID() != runTrace {
			t.Errorf("span %s of the run is in trace %s, want %s", s.Name, s.SpanContext.TraceID(), runTrace)
		}
		names[s.Name]++
		checkAttributes(t, s)
	}
	for name, least := range map[string]int{"ajwt.run": 1, "ajwt.idp POST /v1/runs": 1, "ajwt.idp POST /token": 5,
		"ajwt.idp POST /v1/runs/{run_id}/steps/{step_id}/complete": 5, "ajwt.idp POST /v1/runs/{run_id}/steps/{step_id}/approve": 1,
		"ajwt.enforce GET": 5, "ajwt.enforce POST": 1} {
		if names[name] < least {
			t.Errorf("%d spans %q in the run's trace, want at least %d (all: %v)", names[name], name, least, names)
		}
	}
	mu.Lock()
	joined := 0
	for _, tp := range upstream {
		if strings.Contains(tp, runTrace.String()) {
			joined++
		}
	}
	mu.Unlock()
	if joined < 5 {
		t.Errorf("%d API requests carried the run's trace context", joined)
	}
	checkNoSecrets(t, e, exp.GetSpans(), logs.String())
}

func attr(s tracetest.SpanStub, k attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.AsString()
		}
	}
	return ""
}

func checkAttributes(t *testing.T, s tracetest.SpanStub) {
	t.Helper()
	want := []string{"ajwt.decision"}
	switch {
	case strings.HasPrefix(s.Name, "ajwt.enforce"), strings.HasSuffix(s.Name, "/complete"):
		want = append(want, "ajwt.agent", "ajwt.step", "ajwt.client")
	case s.Name == "ajwt.idp POST /token":
		want = append(want, "ajwt.client")
	case s.Name == "ajwt.run":
		want = []string{"ajwt.workflow", "ajwt.client"}
	}
	have := map[string]bool{}
	for _, a := range s.Attributes {
		have[string(a.Key)] = true
	}
	for _, k := range want {
		if !have[k] {
			t.Errorf("span %s lacks %s (has %v)", s.Name, k, s.Attributes)
		}
	}
	if s.SpanKind == trace.SpanKindUnspecified {
		t.Errorf("span %s has no kind", s.Name)
	}
}

// checkNoSecrets scans every span and log line for what must never be
// there: a JWT (access tokens, proofs and assertions all start "eyJ"), a
// client secret, the shim's master secret, an agent's prompt.
func checkNoSecrets(t *testing.T, e *Env, spans tracetest.SpanStubs, logs string) {
	t.Helper()
	var all strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&all, "%s %v %v %v\n", s.Name, s.Attributes, s.Events, s.Links)
	}
	all.WriteString(logs)
	text := all.String()
	if m := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`).FindString(text); m != "" {
		t.Errorf("a JWT in the telemetry: %.40s…", m)
	}
	secrets := []string{appSecret, approverSecret, adminSecret, evilSecret, string(e.master)}
	for _, sp := range e.specs {
		secrets = append(secrets, sp.PromptTemplate[:min(len(sp.PromptTemplate), 40)])
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the telemetry contains %.20q…", s)
		}
	}
	if len(logs) == 0 {
		t.Error("no log lines to scan")
	}
}
