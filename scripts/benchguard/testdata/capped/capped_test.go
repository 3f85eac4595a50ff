// Package capped holds benchmarks that report less time than their work
// takes; the guard's tests expect each to be flagged. It sits under
// testdata so that `go test ./...` never runs it.
package capped

import (
	"crypto/sha256"
	"testing"
)

// work stands for a signature: a few microseconds.
func work(seed []byte) [32]byte {
	h := sha256.Sum256(seed)
	for range 30 {
		h = sha256.Sum256(h[:])
	}
	return h
}

func pool(n int) [][]byte {
	p := make([][]byte, n)
	for i := range p {
		p[i] = []byte{byte(i), byte(i >> 8)}
	}
	return p
}

// BenchmarkCappedPool is the capped loop the guard exists for: it stops after its
// pre-made inputs while the timer divides by b.N.
func BenchmarkCappedPool(b *testing.B) {
	proofs := pool(64)
	b.ResetTimer()
	for i := 0; i < b.N && i < len(proofs); i++ {
		work(proofs[i])
	}
}

// BenchmarkBreakOut leaves the loop when its inputs are used up. (Out of
// b.Loop, the testing package itself fails the benchmark.)
func BenchmarkBreakOut(b *testing.B) {
	proofs := pool(64)
	for i := 0; i < b.N; i++ {
		if i == len(proofs) {
			break
		}
		work(proofs[i])
	}
}

// BenchmarkUsedUpPool keeps looping but works only while its inputs last:
// no loop shape gives it away, only its time per operation.
func BenchmarkUsedUpPool(b *testing.B) {
	proofs := pool(300)
	i := 0
	for b.Loop() {
		if i < len(proofs) {
			work(proofs[i])
		}
		i++
	}
}
