package boundedmap

import (
	"sync"
	"testing"
)

func TestBound(t *testing.T) {
	m := New[int, string](3)
	for i := range 10 {
		m.Put(i, "v")
		if m.Len() > 3 {
			t.Fatalf("%d entries after %d puts, bound 3", m.Len(), i+1)
		}
	}
	m.Put(100, "a")
	m.Put(100, "b") // replacing never evicts
	if v, ok := m.Get(100); !ok || v != "b" || m.Len() != 3 {
		t.Fatalf("get %q %v, len %d", v, ok, m.Len())
	}
	m.Delete(100)
	if _, ok := m.Get(100); ok || m.Len() != 2 {
		t.Fatalf("delete left %d entries", m.Len())
	}
	if z := New[string, int](0); z.max != 1 {
		t.Fatalf("bound %d for 0, want 1", z.max)
	}
}

func TestConcurrent(t *testing.T) {
	m := New[int, int](64)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				m.Put(w*1000+i, i)
				m.Get(i)
				if i%10 == 0 {
					m.Delete(w*1000 + i)
				}
			}
		})
	}
	wg.Wait()
	if m.Len() > 64 {
		t.Fatalf("%d entries, bound 64", m.Len())
	}
}
