package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ajwt/ajwt/proxy"
)

// BenchmarkHop is the proxy's own cost per request (rewrite, header
// stripping, upstream transport, streaming back) on a public route,
// against calling the upstream directly; the enforcer's decision on
// protected routes is BenchmarkCheck in middleware.
func BenchmarkHop(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"content":"module x"}`))
	}))
	defer upstream.Close()
	prx := publicProxy(b, upstream.URL, proxy.Options{})
	for _, bc := range []struct{ name, base string }{{"direct", upstream.URL}, {"via-proxy", prx.URL}} {
		b.Run(bc.name, func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			b.ReportAllocs()
			for b.Loop() {
				res, err := hc.Get(bc.base + "/repos/acme/web/contents/go.mod")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("HTTP %d", res.StatusCode)
				}
			}
		})
	}
}
