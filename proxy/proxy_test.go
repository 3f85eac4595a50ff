package proxy_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/token"
)

func publicProxy(t testing.TB, upstream string, opts proxy.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(publicHandler(t, upstream, opts))
	t.Cleanup(srv.Close)
	return srv
}

// publicHandler is the proxy for upstream with one public route for
// everything.
func publicHandler(t testing.TB, upstream string, opts proxy.Options) http.Handler {
	t.Helper()
	ks, _ := token.NewStaticKeys(jose.JSONWebKeySet{})
	pol, err := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: "https://api.example",
		Routes: []policy.Rule{{Match: policy.MatchRule{Method: "*", Path: "/**"}, Public: true}}})
	if err != nil {
		t.Fatal(err)
	}
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(ks), middleware.WithoutRevocationFeed())
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(upstream)
	h, err := proxy.New(up, enf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestStreaming: the first chunk reaches the client while the upstream is
// still writing.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first\n"))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("second\n"))
	}))
	defer upstream.Close()
	defer close(release)
	srv := publicProxy(t, upstream.URL, proxy.Options{})
	res, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(res.Body).ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if l != "first\n" {
			t.Fatalf("got %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first chunk was held back until the upstream finished")
	}
}

func TestUpstreamFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	srv := publicProxy(t, slow.URL, proxy.Options{ResponseTimeout: 200 * time.Millisecond})
	res, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway && res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %d", res.StatusCode)
	}
	dead := publicProxy(t, "http://127.0.0.1:1", proxy.Options{DialTimeout: time.Second})
	res, err = http.Get(dead.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("unreachable upstream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if _, err := proxy.New(&url.URL{Path: "/relative"}, nil, proxy.Options{}); err == nil {
		t.Fatal("relative upstream accepted")
	}
}

// TestForwardsCanonicalPath: public routes too are forwarded with the
// canonical path (§8), and a path that is not canonical never reaches the
// upstream.
func TestForwardsCanonicalPath(t *testing.T) {
	var hits atomic.Int64
	var seen atomic.Value
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		seen.Store(r.RequestURI)
	}))
	defer upstream.Close()
	srv := publicProxy(t, upstream.URL+"/base", proxy.Options{})
	for _, tt := range []struct{ path, want string }{
		{"/a/%7e%62/", "/base/a/~b/"},
		{"/a/%c3%a9%2a?x=%2e", "/base/a/%C3%A9%2A?x=%2e"},
		{"/a/%2e%2e/b", ""},
		{"/a/b;c", ""},
		{"/a//b", ""},
		{"/a%2Fb", ""},
	} {
		before := hits.Load()
		res, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if tt.want == "" {
			if res.StatusCode != http.StatusBadRequest || hits.Load() != before {
				t.Fatalf("%s: %d, upstream hit %d times", tt.path, res.StatusCode, hits.Load()-before)
			}
			continue
		}
		if res.StatusCode != http.StatusOK || seen.Load() != tt.want {
			t.Fatalf("%s: %d, upstream saw %v, want %s", tt.path, res.StatusCode, seen.Load(), tt.want)
		}
	}
}
