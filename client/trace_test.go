package client_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/idptest"
)

type traceKey struct{}

// inject stands in for an OpenTelemetry propagator: it writes the
// traceparent the test put in the context.
func inject(ctx context.Context, h http.Header) {
	if tp, ok := ctx.Value(traceKey{}).(string); ok {
		h.Set("Traceparent", tp)
	}
}

// seenTraces records the traceparent of every request sent to the IdP.
type seenTraces struct {
	mu   sync.Mutex
	seen map[string]string // path → traceparent
}

func (s *seenTraces) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.seen[r.URL.Path] = r.Header.Get("Traceparent")
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestTraceContextPropagation(t *testing.T) {
	w := newWorld(t, idptest.Config)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := context.WithValue(context.Background(), traceKey{}, tp)
	idpSeen := &seenTraces{seen: map[string]string{}}
	c, err := client.New(ctx, client.Config{Issuer: w.idp.URL, ClientID: "app", ClientSecret: "app-secret",
		HTTPClient: &http.Client{Transport: idpSeen}, TraceContext: inject})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.StartRun(ctx, "wf", "user:alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	planner, _ := c.Agent(spec("planner"), client.DerivedKey(master))
	src := planner.TokenSource(run.ID, "plan")
	srv, last := api(t)
	hc := &http.Client{Transport: &client.Transport{Source: src, TraceContext: inject}}
	get := func(ctx context.Context, own string) http.Header {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/repos/acme/web", nil)
		if own != "" {
			req.Header.Set("Traceparent", own)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return last.Load().(http.Header)
	}
	if got := get(ctx, "").Get("Traceparent"); got != tp {
		t.Fatalf("API call traceparent %q, want the context's", got)
	}
	const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if got := get(ctx, own).Get("Traceparent"); got != own {
		t.Fatalf("a request's own traceparent was replaced by %q", got)
	}
	if _, err := planner.Complete(ctx, run.ID, "plan"); err != nil {
		t.Fatal(err)
	}
	idpSeen.mu.Lock()
	defer idpSeen.mu.Unlock()
	for _, path := range []string{"/token", "/v1/runs", "/v1/runs/" + run.ID + "/steps/plan/complete"} {
		if idpSeen.seen[path] != tp {
			t.Errorf("IdP request %s carried traceparent %q", path, idpSeen.seen[path])
		}
	}
}
