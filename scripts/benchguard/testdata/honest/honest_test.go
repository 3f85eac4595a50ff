// Package honest holds benchmarks that do their work on every iteration,
// in the shapes the repository uses; the guard must pass them. It sits
// under testdata so that `go test ./...` never runs it.
package honest

import (
	"crypto/sha256"
	"testing"
)

func work(seed []byte) [32]byte {
	h := sha256.Sum256(seed)
	for range 30 {
		h = sha256.Sum256(h[:])
	}
	return h
}

func BenchmarkLoop(b *testing.B) {
	for b.Loop() {
		work([]byte("x"))
	}
}

func BenchmarkN(b *testing.B) {
	for i := 0; i < b.N; i++ {
		work([]byte{byte(i)})
	}
}

func BenchmarkRangeN(b *testing.B) {
	for i := range b.N {
		work([]byte{byte(i)})
	}
}

// BenchmarkBatches makes single-use inputs in batches with the timer
// stopped, as the DPoP benchmarks do.
func BenchmarkBatches(b *testing.B) {
	var batch [][]byte
	for b.Loop() {
		if len(batch) == 0 {
			b.StopTimer()
			for i := range 64 {
				batch = append(batch, []byte{byte(i)})
			}
			b.StartTimer()
		}
		work(batch[0])
		batch = batch[1:]
	}
}

func BenchmarkParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			work([]byte("p"))
		}
	})
}

// BenchmarkInnerBreak breaks out of inner statements only.
func BenchmarkInnerBreak(b *testing.B) {
	items := []int{1, 2, 3}
	for b.Loop() {
		for _, it := range items {
			if it == 2 {
				break
			}
		}
		switch {
		case len(items) > 0:
			work([]byte("s"))
			break
		}
	}
}

func BenchmarkSub(b *testing.B) {
	for _, name := range []string{"a", "b"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				work([]byte(name))
			}
		})
	}
}
