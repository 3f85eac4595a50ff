//go:build !unix

package main

// openFileLimit: no POSIX limit to read here; assume the usual 1,024.
func openFileLimit() int { return 1024 }
