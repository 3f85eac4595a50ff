package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/proxy"
)

// Scaled down: an idle timeout of 300 ms stands for 60 s, a transfer of
// 1.5 s with a chunk every 100 ms for a download or upload that outlasts
// the old whole-request timeouts.
const (
	idle   = 300 * time.Millisecond
	tick   = 100 * time.Millisecond
	chunks = 15
)

// serve runs hs (its Handler set) on loopback until the test ends.
func serve(t *testing.T, hs *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// proxyServer is the proxy in front of upstream, served by proxy.NewServer
// with the scaled-down timeouts.
func proxyServer(t *testing.T, upstream string) string {
	h := publicHandler(t, upstream, proxy.Options{IdleTimeout: idle})
	return serve(t, proxy.NewServer(h, proxy.ServerTimeouts{Idle: idle}))
}

// oldStyle is the proxy served with whole-request timeouts, as it was
// before (ReadTimeout 15 s, WriteTimeout 45 s, scaled down).
func oldStyle(t *testing.T, upstream string) string {
	h := publicHandler(t, upstream, proxy.Options{})
	return serve(t, &http.Server{Handler: h, ReadHeaderTimeout: idle, ReadTimeout: idle, WriteTimeout: idle})
}

func streamingUpstream(t *testing.T) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range chunks {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(tick)
		}
	}))
	t.Cleanup(up.Close)
	return up.URL
}

func download(base string) (int, error) {
	res, err := http.Get(base + "/stream")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	n := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// TestLongDownload: a download that keeps moving completes
// however long it takes, where a whole-request write timeout cut it.
func TestLongDownload(t *testing.T) {
	up := streamingUpstream(t)
	if n, err := download(oldStyle(t, up)); n == chunks && err == nil {
		t.Fatal("the old server settings did not cut the stream: the test proves nothing")
	}
	if n, err := download(proxyServer(t, up)); n != chunks || err != nil {
		t.Fatalf("%d of %d chunks, %v", n, chunks, err)
	}
}

// slowBody sends chunks every tick, then ends (or stalls when stall).
func slowBody(stall bool) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for range chunks {
			if _, err := pw.Write([]byte(strings.Repeat("u", 32))); err != nil {
				return
			}
			time.Sleep(tick)
		}
		if !stall {
			pw.Close()
		}
	}()
	return pr
}

func countingUpstream(t *testing.T, readErr chan<- error) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if readErr != nil {
			readErr <- err
		}
		fmt.Fprint(w, n)
	}))
	t.Cleanup(up.Close)
	return up.URL
}

func upload(base string, body io.Reader) (string, error) {
	res, err := http.Post(base+"/upload", "application/octet-stream", body)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return fmt.Sprint(res.StatusCode, " ", string(b)), err
}

// TestSlowUpload: an upload that keeps moving completes,
// where a whole-request read timeout cut it.
func TestSlowUpload(t *testing.T) {
	up := countingUpstream(t, nil)
	want := fmt.Sprint("200 ", chunks*32)
	if got, err := upload(oldStyle(t, up), slowBody(false)); got == want && err == nil {
		t.Fatal("the old server settings did not cut the upload: the test proves nothing")
	}
	if got, err := upload(proxyServer(t, up), slowBody(false)); got != want || err != nil {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// within waits for c; the bound only stops a broken run.
func within[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still waiting after 20 s", what)
		panic("unreachable")
	}
}

// TestStalledUploadCut: a client that stops sending its body is cut
// after the idle timeout; the upstream sees its request body fail.
func TestStalledUploadCut(t *testing.T) {
	readErr := make(chan error, 1)
	base := proxyServer(t, countingUpstream(t, readErr))
	go upload(base, slowBody(true))
	if err := within(t, "the upstream's body read", readErr); err == nil {
		t.Fatal("the upstream read the whole stalled body")
	}
}

// TestStalledClientCut: a client that stops reading the response is cut
// after the idle timeout; the upstream's writes then fail.
func TestStalledClientCut(t *testing.T) {
	writeErr := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	res, err := http.Get(proxyServer(t, up.URL) + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close() // never read
	if err := within(t, "the upstream's failing write", writeErr); err == nil {
		t.Fatal("no error")
	}
}

// TestStalledUpstreamCut: an upstream that stops sending mid-response is
// cut after the idle timeout; the client's read fails instead of hanging.
func TestStalledUpstreamCut(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); up.Close() })
	res, err := http.Get(proxyServer(t, up.URL) + "/stall")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(res.Body); done <- err }()
	if err := within(t, "the client's read", done); err == nil {
		t.Fatal("the response ended cleanly although the upstream stalled")
	}
}

// TestUpgradePassesThrough: a protocol switch (WebSocket) still works
// through the proxy with idle timeouts: the upgraded connection is the
// upstream's, outside the HTTP exchange the timeouts watch.
func TestUpgradePassesThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	base := proxyServer(t, up.URL)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	time.Sleep(2 * idle) // longer than the idle timeout: the upgraded connection is not cut
	io.WriteString(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: hello\n" {
		t.Fatalf("after the upgrade: %q %v", line, err)
	}
}
