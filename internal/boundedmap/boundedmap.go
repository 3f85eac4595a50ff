// Package boundedmap is a concurrency-safe map with a size bound, for the
// caches of verified tokens, proof keys and agent records: when full, an
// arbitrary entry makes room (Go's map order is random), which needs no
// bookkeeping and gives an attacker who floods the cache no entry to aim
// at. It imports only the standard library.
package boundedmap

import "sync"

// Map holds at most max entries. The zero value is not usable; use New.
type Map[K comparable, V any] struct {
	mu      sync.RWMutex
	max     int
	entries map[K]V
}

// New returns an empty map that holds at most limit (≥ 1) entries.
func New[K comparable, V any](limit int) *Map[K, V] {
	limit = max(limit, 1)
	return &Map[K, V]{max: limit, entries: make(map[K]V, min(limit, 1024))}
}

// Get returns the value stored for k.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.entries[k]
	return v, ok
}

// Put stores v for k, evicting an arbitrary other entry when full.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[k]; !ok && len(m.entries) >= m.max {
		for victim := range m.entries {
			delete(m.entries, victim)
			break
		}
	}
	m.entries[k] = v
}

// Delete removes k.
func (m *Map[K, V]) Delete(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, k)
}

// Len is the number of entries.
func (m *Map[K, V]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}
