package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/idptest"
)

// TestTransportRetries: once with the resource server's nonce, once with a
// fresh token after "expired"; bodies are re-sent intact.
func TestTransportRetries(t *testing.T) {
	w := newWorld(t, idptest.Config)
	run, _ := w.c.StartRun(context.Background(), "wf", "user:alice", nil)
	var calls atomic.Int32
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		buf := new(strings.Builder)
		r.Body.Read(make([]byte, 0))
		b := make([]byte, 64)
		k, _ := r.Body.Read(b)
		buf.Write(b[:k])
		bodies = append(bodies, buf.String())
		switch n {
		case 1:
			rw.Header().Set("DPoP-Nonce", "server-nonce")
			rw.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			rw.WriteHeader(http.StatusUnauthorized)
		case 3:
			rw.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="expired"`)
			rw.WriteHeader(http.StatusUnauthorized)
		default:
			rw.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &client.Transport{Source: w.planner.TokenSource(run.ID, "plan")}}
	for range 2 {
		res, err := hc.Post(srv.URL+"/x", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d after retry", res.StatusCode)
		}
	}
	if calls.Load() != 4 {
		t.Fatalf("%d calls, want 4 (nonce retry, then expiry retry)", calls.Load())
	}
	for i, b := range bodies {
		if b != "payload" {
			t.Fatalf("call %d body %q", i, b)
		}
	}
}
