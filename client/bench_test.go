package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/idptest"
)

// BenchmarkTransport is the agent side of every API call: the step's token
// from the source's cache, a fresh DPoP proof with ath, and the request,
// against the same request with a plain client.
func BenchmarkTransport(b *testing.B) {
	w := newWorld(b, idptest.Config)
	run, err := w.c.StartRun(context.Background(), "wf", "user:alice", nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("ok")) }))
	defer srv.Close()
	for _, bc := range []struct {
		name string
		hc   *http.Client
	}{
		{"plain", &http.Client{}},
		{"ajwt", &http.Client{Transport: &client.Transport{Source: w.planner.TokenSource(run.ID, "plan")}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := bc.hc.Get(srv.URL + "/repos/acme/web")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}
