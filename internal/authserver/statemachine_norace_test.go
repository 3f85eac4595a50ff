//go:build !race

package authserver

const smRaceDetector = false
