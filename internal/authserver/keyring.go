package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// KeyCipher encrypts signing keys before they reach the store.
type KeyCipher interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

type keyringConfig struct {
	alg    keys.Alg
	issuer string
	ttl    time.Duration
	now    func() time.Time
	cipher KeyCipher
}

// keyring holds the issuer's signing keys: the newest active key signs;
// retired keys stay published (and accepted) for the maximum token lifetime
// so tokens signed before a rotation keep verifying.
type keyring struct {
	cfg   keyringConfig
	store store.Store

	mu        sync.RWMutex
	issuer    *token.Issuer
	published map[string]*jose.JSONWebKey
	jwks      []byte
	lastLoad  time.Time
}

func newKeyring(ctx context.Context, st store.Store, cfg keyringConfig) (*keyring, error) {
	k := &keyring{cfg: cfg, store: st}
	if err := k.ensureActive(ctx); err != nil {
		return nil, err
	}
	return k, k.load(ctx)
}

// ensureActive generates the first key on first start.
func (k *keyring) ensureActive(ctx context.Context) error {
	return k.store.Update(ctx, func(tx store.Tx) error {
		all, err := tx.SigningKeys(ctx)
		if err != nil {
			return err
		}
		for _, sk := range all {
			if sk.RetiredAt.IsZero() {
				return nil
			}
		}
		return addSigningKey(ctx, tx, k.cfg.alg, k.cfg.now(), k.cfg.cipher)
	})
}

// RotateKey adds a new active signing key and retires the others. A running
// server picks the new key up at its next refresh.
func RotateKey(ctx context.Context, st store.Store, alg keys.Alg, now time.Time, cipher KeyCipher) (string, error) {
	var kid string
	err := st.Update(ctx, func(tx store.Tx) error {
		all, err := tx.SigningKeys(ctx)
		if err != nil {
			return err
		}
		for _, sk := range all {
			if sk.RetiredAt.IsZero() {
				sk.RetiredAt = now
				if err := tx.PutSigningKey(ctx, sk); err != nil {
					return err
				}
			}
		}
		if err := addSigningKey(ctx, tx, alg, now, cipher); err != nil {
			return err
		}
		all, err = tx.SigningKeys(ctx)
		if err == nil {
			kid = all[len(all)-1].KeyID
		}
		return err
	})
	return kid, err
}

func addSigningKey(ctx context.Context, tx store.Tx, alg keys.Alg, now time.Time, cipher KeyCipher) error {
	signer, err := keys.Generate(alg, nil)
	if err != nil {
		return err
	}
	pem, err := keys.MarshalPrivatePEM(signer.CryptoSigner())
	if err != nil {
		return err
	}
	if cipher != nil {
		if pem, err = cipher.Seal(pem); err != nil {
			return fmt.Errorf("authserver: sealing signing key: %w", err)
		}
	}
	return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: signer.KeyID(), Alg: string(alg), PrivatePEM: pem, CreatedAt: now})
}

func (k *keyring) load(ctx context.Context) error {
	var all []*store.SigningKey
	err := k.store.View(ctx, func(tx store.Tx) (err error) {
		all, err = tx.SigningKeys(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return k.install(all)
}

func (k *keyring) install(all []*store.SigningKey) error {
	now := k.cfg.now()
	published := map[string]*jose.JSONWebKey{}
	var set jose.JSONWebKeySet
	var active *keys.Signer
	for _, sk := range all {
		if !sk.RetiredAt.IsZero() && now.Sub(sk.RetiredAt) > k.cfg.ttl+protocol.MaxLeeway {
			continue
		}
		signer, err := k.open(sk)
		if err != nil {
			return err
		}
		pub := signer.Public()
		published[sk.KeyID] = &pub
		set.Keys = append(set.Keys, pub)
		if sk.RetiredAt.IsZero() {
			active = signer // newest active wins: keys are listed oldest first
		}
	}
	if active == nil {
		return errors.New("authserver: no active signing key")
	}
	return k.swap(active, published, set)
}

func (k *keyring) swap(active *keys.Signer, published map[string]*jose.JSONWebKey, set jose.JSONWebKeySet) error {
	issuer, err := token.NewIssuer(k.cfg.issuer, active)
	if err != nil {
		return err
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.issuer, k.published, k.jwks, k.lastLoad = issuer, published, jwks, k.cfg.now()
	k.mu.Unlock()
	return nil
}

func (k *keyring) open(sk *store.SigningKey) (*keys.Signer, error) {
	pem := sk.PrivatePEM
	if k.cfg.cipher != nil {
		var err error
		if pem, err = k.cfg.cipher.Open(pem); err != nil {
			return nil, fmt.Errorf("authserver: opening signing key %s: %w", sk.KeyID, err)
		}
	}
	priv, err := keys.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("authserver: signing key %s: %w", sk.KeyID, err)
	}
	alg, err := keys.ParseAlg(sk.Alg)
	if err != nil {
		return nil, err
	}
	return keys.NewSigner(priv, alg, sk.KeyID)
}

// Issuer returns the current token issuer.
func (k *keyring) Issuer() *token.Issuer {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.issuer
}

// JWKS returns the published key set as JSON.
func (k *keyring) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// PublicKey implements token.KeySource over our own keys only. An unknown
// kid triggers at most one reload per second (another node may have
// rotated).
func (k *keyring) PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	k.mu.RLock()
	key, ok := k.published[kid]
	stale := k.cfg.now().Sub(k.lastLoad) > time.Second
	k.mu.RUnlock()
	if ok {
		return key, nil
	}
	if stale {
		if err := k.load(ctx); err != nil {
			return nil, unavailable(err) // unknown, not unknown_key: another node may have rotated
		}
		k.mu.RLock()
		key, ok = k.published[kid]
		k.mu.RUnlock()
		if ok {
			return key, nil
		}
	}
	return nil, protocol.ErrUnknownKey.WithDescription("unknown key id")
}

func (k *keyring) refreshLoop(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_ = k.load(context.Background()) // keep serving the current keys on error
		}
	}
}
