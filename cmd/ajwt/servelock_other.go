//go:build !unix

package main

// lockDataDir is advisory and Unix-only; elsewhere one server per data
// directory is the operator's to ensure.
func lockDataDir(string) (func(), error) { return func() {}, nil }
