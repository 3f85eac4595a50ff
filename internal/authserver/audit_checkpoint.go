package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// An audit checkpoint is the IdP's signed statement that its audit log
// had Size entries ending in the hash Head at Time. Held outside the IdP
// (GET /v1/audit/checkpoint), it lets anyone with the IdP's JWKS check an
// exported log offline: an edit changes hashes up to the head, a truncation
// leaves no entry Size. Written into the chain itself every
// audit_checkpoint_interval, it also makes a rewrite of the history before
// it need the signing key, not only write access to the database.

// CheckpointType is the typ of a checkpoint JWS: a checkpoint is never
// taken for an access token, nor an access token for a checkpoint.
const CheckpointType = "ajwt-audit-checkpoint+jwt"

// CheckpointEvent is the event of a checkpoint written into the chain; its
// detail is "size=N head=sha256:… jws=<compact JWS>".
const CheckpointEvent = "checkpoint"

// DefaultCheckpointInterval is audit_checkpoint_interval's default.
const DefaultCheckpointInterval = time.Hour

// Checkpoint is the payload of a checkpoint JWS.
type Checkpoint struct {
	Issuer string `json:"iss"`
	Size   int64  `json:"size"` // seq of the head entry
	Head   string `json:"head"` // its hash
	Time   int64  `json:"time"` // unix seconds
}

// ErrCheckpointKey is a checkpoint whose kid is not in the JWKS it is
// checked with: signed by a key retired since, or by someone else.
var ErrCheckpointKey = errors.New("checkpoint: kid not in the JWKS")

// maxCheckpoint bounds a checkpoint JWS read from a file or a detail.
const maxCheckpoint = 16 << 10

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (c *Checkpoint) check() error {
	switch {
	case c.Issuer == "":
		return errors.New("checkpoint: no iss")
	case c.Size < 1:
		return errors.New("checkpoint: size must be 1 or more")
	case !digestRE.MatchString(c.Head):
		return errors.New("checkpoint: head is not sha256:<64 hex>")
	case c.Time < 1:
		return errors.New("checkpoint: no time")
	}
	return nil
}

// handleAuditCheckpoint: GET /v1/audit/checkpoint (admin), a checkpoint of
// the log as it is now.
func (s *Server) handleAuditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiCaller(r.Context(), r, "ajwt:admin"); err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	cp, err := s.currentCheckpoint(r.Context())
	if err != nil {
		return err
	}
	if cp.Size == 0 {
		return errNotFound("the audit log is empty")
	}
	raw, err := s.signCheckpoint(r.Context(), cp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"checkpoint": raw})
	return nil
}

// currentCheckpoint reads the recorded head after chaining what waits in
// PostgreSQL's outbox.
func (s *Server) currentCheckpoint(ctx context.Context) (*Checkpoint, error) {
	if err := s.store.FlushAudit(ctx); err != nil {
		return nil, err
	}
	cp := &Checkpoint{Issuer: s.cfg.Issuer, Time: s.now().Unix()}
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		cp.Size, cp.Head, err = tx.AuditHead(ctx)
		return err
	})
	return cp, err
}

// signCheckpoint signs cp with the key that signs this node's tokens, so
// that its kid is in the JWKS this node publishes.
func (s *Server) signCheckpoint(ctx context.Context, cp *Checkpoint) (string, error) {
	signer, err := s.keyring.activeSigner(ctx)
	if err != nil {
		return "", err
	}
	js, err := signer.JOSE(CheckpointType, nil)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(cp)
	if err != nil {
		return "", err
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("authserver: signing checkpoint: %w", err)
	}
	return obj.CompactSerialize()
}

// activeSigner opens the stored key whose kid signs tokens now. The
// keyring keeps only the token issuer built on it; a checkpoint is rare
// enough to read the key again.
func (k *keyring) activeSigner(ctx context.Context) (*keys.Signer, error) {
	kid := k.Issuer().KeyID()
	var all []*store.SigningKey
	err := k.store.View(ctx, func(tx store.Tx) (err error) {
		all, err = tx.SigningKeys(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, sk := range all {
		if sk.KeyID == kid {
			return k.open(sk)
		}
	}
	return nil, fmt.Errorf("authserver: signing key %s no longer stored", kid)
}

// VerifyCheckpoint checks a checkpoint JWS with set, the issuer's JWKS: a
// compact JWS of typ CheckpointType with only alg, kid and typ in its
// header, alg one ajwt signs with (keys.DefaultAlgs) and fitting the key,
// the key looked up by kid in set alone. The caller compares Issuer with
// the issuer it expects.
func VerifyCheckpoint(raw string, set *jose.JSONWebKeySet) (*Checkpoint, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxCheckpoint {
		return nil, fmt.Errorf("checkpoint: longer than %d bytes", maxCheckpoint)
	}
	alg, kid, err := checkpointHeader(raw)
	if err != nil {
		return nil, err
	}
	found := set.Key(kid)
	if len(found) == 0 {
		return nil, fmt.Errorf("%w (kid %q)", ErrCheckpointKey, kid)
	}
	if len(found) != 1 || !found[0].IsPublic() || !keys.FitsKey(alg, found[0].Key) {
		return nil, fmt.Errorf("checkpoint: kid %q is not one public %s key of the JWKS", kid, alg)
	}
	algs, _ := keys.JOSEAlgs(keys.DefaultAlgs()) // a fixed, valid list
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("checkpoint: not a compact JWS")
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		return nil, errors.New("checkpoint: signature does not verify with the JWKS")
	}
	var cp Checkpoint
	if err := json.Unmarshal(payload, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: payload: %w", err)
	}
	return &cp, cp.check()
}

// checkpointHeader returns the alg and kid of a checkpoint's protected
// header after checking that it holds nothing else than alg, kid and typ
// (no embedded or remote key) and the checkpoint's typ.
func checkpointHeader(raw string) (alg, kid string, err error) {
	seg, _, ok := strings.Cut(raw, ".")
	data, derr := base64.RawURLEncoding.DecodeString(seg)
	if !ok || derr != nil {
		return "", "", errors.New("checkpoint: not a compact JWS")
	}
	var h map[string]any
	if strictjson.Check(data, protocol.MaxJSONDepth) != nil || json.Unmarshal(data, &h) != nil {
		return "", "", errors.New("checkpoint: header is not a JSON object (or repeats a member)")
	}
	for name := range h {
		if name != "alg" && name != "kid" && name != "typ" {
			return "", "", fmt.Errorf("checkpoint: header %q not allowed", name)
		}
	}
	typ, _ := h["typ"].(string)
	alg, _ = h["alg"].(string)
	kid, _ = h["kid"].(string)
	switch {
	case typ != CheckpointType:
		return "", "", fmt.Errorf("checkpoint: typ must be %s", CheckpointType)
	case kid == "" || len(kid) > 256:
		return "", "", errors.New("checkpoint: no usable kid")
	case !allowedAlg(alg):
		return "", "", fmt.Errorf("checkpoint: alg %q not allowed", alg)
	}
	return alg, kid, nil
}

func allowedAlg(alg string) bool {
	for _, a := range keys.DefaultAlgs() {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// CheckpointDetail is the detail of a checkpoint entry in the chain.
func CheckpointDetail(cp *Checkpoint, raw string) string {
	return fmt.Sprintf("size=%d head=%s jws=%s", cp.Size, cp.Head, raw)
}

// CheckpointJWS returns the JWS of a checkpoint entry's detail.
func CheckpointJWS(detail string) (string, bool) {
	for _, field := range strings.Fields(detail) {
		if v, ok := strings.CutPrefix(field, "jws="); ok {
			return v, true
		}
	}
	return "", false
}

// checkpointLoop writes a checkpoint into the chain every interval until
// the server stops.
func (s *Server) checkpointLoop() {
	every := s.cfg.AuditCheckpointInterval
	if every <= 0 {
		every = DefaultCheckpointInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.writeCheckpoint(context.Background(), every); err != nil {
				s.log.Warn("writing the audit checkpoint failed; retrying at the next interval", "err", err)
			}
		}
	}
}

// writeCheckpoint appends a signed checkpoint of the head to the chain,
// unless nothing was added since the newest checkpoint entry or that one
// is younger than half of every (another node wrote it). It reports
// whether it wrote one.
func (s *Server) writeCheckpoint(ctx context.Context, every time.Duration) (bool, error) {
	cp, err := s.currentCheckpoint(ctx)
	if err != nil || cp.Size == 0 {
		return false, err
	}
	var last []*store.AuditEntry
	err = s.store.View(ctx, func(tx store.Tx) (err error) {
		last, err = tx.Audit(ctx, store.AuditFilter{Event: CheckpointEvent, Newest: true, Limit: 1})
		return err
	})
	if err != nil {
		return false, err
	}
	if len(last) == 1 && (last[0].Seq == cp.Size || s.now().Sub(last[0].Time) < every/2) {
		return false, nil
	}
	raw, err := s.signCheckpoint(ctx, cp)
	if err != nil {
		return false, err
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: CheckpointEvent, Outcome: "ok", Detail: CheckpointDetail(cp, raw)})
	})
	return err == nil, err
}
