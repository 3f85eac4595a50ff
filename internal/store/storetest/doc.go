// Package storetest is the conformance suite of store.Store: every
// implementation (sqlstore on SQLite and on PostgreSQL) runs it unchanged,
// so the server can rely on the behaviour of store.go's comments whatever
// the database.
//
// Usage, from an implementation's tests:
//
//	type opener struct{ /* paths by store */ }
//	func (o opener) Open(t *testing.T) store.Store             { /* fresh, empty store */ }
//	func (o opener) Reopen(t *testing.T, old store.Store) store.Store { /* close old, open its data again */ }
//
//	func TestConformance(t *testing.T) { storetest.Run(t, opener{}) }
//
// It covers the guarantees of PROTOCOL.md §5 (a step completes once, under
// 50 concurrent transactions), §6.3 (a delegation assertion is used once),
// §9 (revocation feed order, cursor and expiry; a hash-chained audit log
// that stays one chain under concurrent appends) and the transaction
// contract (View refuses writes, Update rolls back on error or
// cancellation, data survives a reopen).
package storetest
