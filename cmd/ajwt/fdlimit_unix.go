//go:build unix

package main

import "syscall"

// openFileLimit is the process's soft open-file limit (unlimited counts
// as very large; unknown as the usual 1,024).
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(rl.Cur, 1<<30))
}
