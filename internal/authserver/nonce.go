package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// nonces issues DPoP nonces (RFC 9449 §8) without per-request state: a
// nonce is an HMAC of the current window (noncePeriod) under a key kept in
// the store, which the first node to start creates and every node reads.
// Every node therefore hands out, and accepts, the same nonce for the same
// window: a client whose requests are spread over the nodes never gets a
// second use_dpop_nonce. Only the window changes the nonce; the key is
// permanent (and sealed with the KEK when one is configured).
type nonces struct {
	key []byte
	now func() time.Time
}

const (
	noncePeriod  = 60 // seconds
	nonceKeyName = "dpop-nonce-key"
	// nonceSkew is how far ahead of this node another node's clock may
	// run (the skew the design tolerates, docs/DEPLOYMENT.md): the next
	// window's nonce is accepted that long before the window starts here.
	nonceSkew = protocol.DefaultLeeway
)

// loadNonces reads the deployment's nonce key, creating it if this is the
// first node to need it.
func loadNonces(ctx context.Context, st store.Store, cipher KeyCipher, now func() time.Time) (*nonces, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh) // never fails (Go ≥ 1.24)
	stored := fresh
	if cipher != nil {
		var err error
		if stored, err = cipher.Seal(fresh); err != nil {
			return nil, fmt.Errorf("authserver: sealing the DPoP nonce key: %w", err)
		}
	}
	var got []byte
	err := st.Update(ctx, func(tx store.Tx) (err error) {
		got, err = tx.SharedSecret(ctx, nonceKeyName, stored)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("authserver: DPoP nonce key: %w", err)
	}
	if cipher != nil {
		if got, err = cipher.Open(got); err != nil {
			return nil, fmt.Errorf("authserver: opening the DPoP nonce key: %w", err)
		}
	}
	if len(got) < 32 {
		return nil, errors.New("authserver: the stored DPoP nonce key is shorter than 32 bytes")
	}
	return &nonces{key: got, now: now}, nil
}

func (n *nonces) at(window int64) string {
	mac := hmac.New(sha256.New, n.key)
	_ = binary.Write(mac, binary.BigEndian, window)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// New returns the nonce of the current window.
func (n *nonces) New() string { return n.at(n.now().Unix() / noncePeriod) }

// Valid accepts the nonce of the current or the previous window, and of
// the next one from nonceSkew before it starts.
func (n *nonces) Valid(v string) bool {
	now := n.now()
	w := now.Unix() / noncePeriod
	next := now.Add(nonceSkew).Unix() / noncePeriod
	return n.is(v, w) || n.is(v, w-1) || (next != w && n.is(v, next))
}

func (n *nonces) is(v string, window int64) bool { return hmac.Equal([]byte(v), []byte(n.at(window))) }
