package authserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// nonces issues DPoP nonces (RFC 9449 §8) without state: a nonce is an HMAC
// of the current minute, valid during that minute and the next. The key is
// per process, so with several nodes a client may get one extra
// use_dpop_nonce round trip when it switches nodes.
type nonces struct {
	key [32]byte
	now func() time.Time
}

func newNonces(now func() time.Time) *nonces {
	n := &nonces{now: now}
	_, _ = rand.Read(n.key[:]) // never fails (Go ≥ 1.24)
	return n
}

const noncePeriod = 60 // seconds

func (n *nonces) at(window int64) string {
	mac := hmac.New(sha256.New, n.key[:])
	_ = binary.Write(mac, binary.BigEndian, window)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// New returns the nonce of the current window.
func (n *nonces) New() string { return n.at(n.now().Unix() / noncePeriod) }

// Valid accepts the nonce of the current or the previous window.
func (n *nonces) Valid(v string) bool {
	w := n.now().Unix() / noncePeriod
	return hmac.Equal([]byte(v), []byte(n.at(w))) || hmac.Equal([]byte(v), []byte(n.at(w-1)))
}
