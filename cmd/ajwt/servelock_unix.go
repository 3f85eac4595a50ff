//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir makes `ajwt serve` the only server of a SQLite data
// directory: the store trusts that no other process writes its database
// (its agent cache and in-memory audit head rely on it). The lock goes
// with the process, however it ends. Other commands (keys rotate, audit
// verify) do not take it.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // a lock file left more open by hand or an older version
		f.Close()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another ajwt serve is using %s (one server per data directory; several nodes need --store postgres://…)", dir)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}
