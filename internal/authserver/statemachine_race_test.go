//go:build race

package authserver

// The race detector slows the in-process server and SQLite about sixfold:
// the property then runs fewer sequences by default to stay within about
// a minute (scripts/statemachine-long.sh runs it long).
const smRaceDetector = true
