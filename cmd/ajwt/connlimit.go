package main

import (
	"net"
	"sync"
)

// Bounds of the default --max-conns: three quarters of the open-file
// limit, leaving the rest to the store (SQLite's files, PostgreSQL's
// pool), Redis, logs and the listener itself.
const (
	minDefaultConns = 64
	maxDefaultConns = 16384
)

// defaultMaxConns is the connection cap of `ajwt serve` when --max-conns
// is not given. Go raises the soft open-file limit to the hard one at
// start (Linux, macOS), so this follows the hard limit: 1,024 gives 768,
// 20,000 gives 15,000; it never exceeds 16,384 (each connection also
// costs memory: goroutines and buffers).
func defaultMaxConns() int {
	return min(max(openFileLimit()*3/4, minDefaultConns), maxDefaultConns)
}

// limitListener accepts at most cap(sem) connections at once: Accept
// waits for one to close (the kernel's backlog holds new ones meanwhile),
// so that clients holding connections, such as a flood of feed long
// polls, can never use up the file descriptors the store needs to answer
// /token (the failure was "unable to open database file").
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func limitListen(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back once, however often it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
