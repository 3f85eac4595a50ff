// Package protocol holds the names the ajwt wire contract fixes: OAuth error
// codes (PROTOCOL.md §6, §8, §9), enforcement reason codes (§8), grant types
// and limits (§10), and Error, the one error type that carries them.
//
// Every package of the SDK and the server reports protocol failures as an
// *Error, so callers can recover the code with errors.As and compare with
// errors.Is against the sentinel values below:
//
//	if errors.Is(err, protocol.ErrExpired) { ... }
//	var pe *protocol.Error
//	if errors.As(err, &pe) { log.Print(pe.Code, pe.Reason) }
package protocol
