package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeConnectionCap: with --max-conns N, a connection beyond the N
// open ones is not served until one of them closes (so held connections
// never use up the file descriptors), and then it is.
func TestServeConnectionCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 3)
	release := make(chan struct{})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		select { // held until released or its client leaves
		case <-release:
		case <-r.Context().Done():
		}
	})}
	go hs.Serve(limitListen(ln, 2))
	t.Cleanup(func() { hs.Close() })
	conns := make([]net.Conn, 3)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		fmt.Fprintf(conns[i], "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	for range 2 {
		<-started
	}
	select {
	case p := <-started:
		t.Fatalf("request %s served beyond the cap of 2 connections", p)
	case <-time.After(300 * time.Millisecond): // nothing may come; a wrong pass at worst
	}
	conns[0].Close()
	if p := <-started; p != "/2" && p != "/1" {
		t.Fatalf("after a connection closed, %s was served", p)
	}
	close(release)
}

// TestServeDefaultMaxConns: three quarters of the open-file limit, within
// bounds.
func TestServeDefaultMaxConns(t *testing.T) {
	got := defaultMaxConns()
	if want := min(max(openFileLimit()*3/4, minDefaultConns), maxDefaultConns); got != want || got < minDefaultConns || got > maxDefaultConns {
		t.Fatalf("default --max-conns %d (open-file limit %d)", got, openFileLimit())
	}
}

// TestServeShutdownReleasesFeedWaiters: SIGTERM answers parked feed long
// polls at once (empty), instead of holding the graceful stop for their
// 30 s.
func TestServeShutdownReleasesFeedWaiters(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	s := startServer(t, dir, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/revocations?wait=30 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	time.Sleep(300 * time.Millisecond) // parked (an early answer fails below anyway)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the long poll was not answered at shutdown: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"revoked":[]`) {
		t.Fatalf("long poll at shutdown: %d %s", res.StatusCode, body)
	}
	s.waitExit(syscall.SIGTERM) // the SIGTERM above is stopping it
}
