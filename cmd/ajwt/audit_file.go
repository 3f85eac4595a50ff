package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
)

// Offline verification of an export (`ajwt audit verify --file`): what an
// auditor runs with the export, a checkpoint and the IdP's public keys,
// without access to the IdP or its database.

type offlineFlags struct {
	file, checkpoint, jwks, issuer string
}

func (f *offlineFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.file, "file", "", "an export of `ajwt audit export` (JSON Lines) to check offline")
	cmd.Flags().StringVar(&f.checkpoint, "checkpoint", "", "with --file: a checkpoint of `ajwt audit checkpoint`")
	cmd.Flags().StringVar(&f.jwks, "jwks", "", "with --file: the IdP's JWKS, a URL (…/jwks.json) or a file")
	cmd.Flags().StringVar(&f.issuer, "expect-issuer", "", "with --file: the issuer the checkpoint must name (default: any, printed)")
}

// offlineResult is what verify --file found.
type offlineResult struct {
	OK         bool                   `json:"ok"`
	Entries    int64                  `json:"entries"`
	FirstSeq   int64                  `json:"first_seq"`
	LastSeq    int64                  `json:"last_seq"`
	Checkpoint *authserver.Checkpoint `json:"checkpoint,omitempty"`
	// AfterCheckpoint: entries past the checkpoint's size, chained but not
	// covered by its signature.
	AfterCheckpoint int64 `json:"after_checkpoint"`
	// In-chain checkpoints (event "checkpoint"): signatures checked, and
	// those signed by a key the JWKS no longer holds.
	InChainVerified  int    `json:"in_chain_checkpoints_verified"`
	InChainOtherKeys int    `json:"in_chain_checkpoints_other_keys"`
	BadSeq           int64  `json:"bad_seq,omitempty"`
	Problem          string `json:"problem,omitempty"`
	Result           string `json:"result"`
}

func (e *env) verifyOffline(cmd *cobra.Command, f *offlineFlags, asJSON bool) error {
	if f.checkpoint == "" || f.jwks == "" {
		return errors.New("--file needs --checkpoint and --jwks")
	}
	set, err := loadJWKS(cmd.Context(), f.jwks)
	if err != nil {
		return err
	}
	cp, err := readLimited(f.checkpoint, 64<<10)
	if err != nil {
		return err
	}
	in, err := os.Open(f.file)
	if err != nil {
		return err
	}
	defer in.Close()
	res, err := verifyExport(in, string(cp), set, f.issuer)
	if err != nil {
		return err
	}
	if err := e.printOffline(res, asJSON); err != nil {
		return err
	}
	if !res.OK {
		return &exitError{code: 2, err: fmt.Errorf("audit export does not verify at entry %d: %s", res.BadSeq, res.Problem)}
	}
	return nil
}

func (e *env) printOffline(res *offlineResult, asJSON bool) error {
	if asJSON {
		return e.printJSON(res)
	}
	t := newTable(e.stdout, "entries", fmt.Sprintf("%d (seq %d to %d)", res.Entries, res.FirstSeq, res.LastSeq))
	if cp := res.Checkpoint; cp != nil {
		t.row("checkpoint", fmt.Sprintf("size %d, head %s, signed %s by %s", cp.Size, cp.Head, when(cp.Time), cp.Issuer))
		t.row("after it", fmt.Sprintf("%d entries (chained, not covered by the signature)", res.AfterCheckpoint))
	}
	t.row("in-chain checkpoints", fmt.Sprintf("%d verified, %d by keys no longer in the JWKS", res.InChainVerified, res.InChainOtherKeys))
	t.row("result", res.Result)
	return t.flush()
}

// maxExportLine bounds one line of an export: an entry's detail is short.
const maxExportLine = 1 << 20

// verifyExport checks an export against a checkpoint JWS with set. An
// error is a failure to check (exit 1); a tampered export comes back as a
// result with a problem (exit 2).
func verifyExport(in io.Reader, rawCP string, set *jose.JSONWebKeySet, issuer string) (*offlineResult, error) {
	res := &offlineResult{}
	cp, err := authserver.VerifyCheckpoint(rawCP, set)
	if err != nil {
		return res.fail(0, "the checkpoint does not verify with the JWKS: "+err.Error()), nil
	}
	res.Checkpoint = cp
	if issuer != "" && strings.TrimSuffix(issuer, "/") != cp.Issuer {
		return res.fail(0, fmt.Sprintf("the checkpoint is %s's, not %s's", cp.Issuer, issuer)), nil
	}
	w := &exportWalker{res: res, cp: cp, set: set, recent: map[int64]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxExportLine)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		x, err := decodeExportLine(sc.Bytes())
		if err != nil {
			return res.fail(res.LastSeq+1, fmt.Sprintf("line %d: not an exported entry: %v", line, err)), nil
		}
		if !w.add(x) {
			return res, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return w.finish()
}

func decodeExportLine(line []byte) (*store.AuditEntry, error) {
	var x exportEntry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return x.entry(), nil
}

func (r *offlineResult) fail(seq int64, problem string) *offlineResult {
	r.BadSeq, r.Problem, r.Result = seq, problem, "TAMPERED"
	return r
}

// exportWalker checks an export entry by entry, keeping the last hash and
// the hashes of the few entries before the newest in-chain checkpoint.
type exportWalker struct {
	res    *offlineResult
	cp     *authserver.Checkpoint
	set    *jose.JSONWebKeySet
	prev   string
	recent map[int64]string // seq → hash of the last recentHashes entries
}

// recentHashes is how far back an in-chain checkpoint's size is looked up.
const recentHashes = 1024

// add checks e as the next entry; false once the export is found
// tampered.
func (w *exportWalker) add(e *store.AuditEntry) bool {
	r := w.res
	switch {
	case r.Entries == 0 && (e.Seq < 1 || e.Seq == 1 && e.Prev != store.AuditGenesis):
		w.res.fail(e.Seq, "the first entry of the log does not start from the genesis")
	case r.Entries > 0 && e.Seq != r.LastSeq+1:
		w.res.fail(e.Seq, fmt.Sprintf("entry %d follows entry %d: removed or reordered entries", e.Seq, r.LastSeq))
	case r.Entries > 0 && e.Prev != w.prev:
		w.res.fail(e.Seq, "prev does not match the previous entry's hash")
	case store.HashAudit(e) != e.Hash:
		w.res.fail(e.Seq, "hash does not match the entry's content: edited")
	case e.Seq == w.cp.Size && e.Hash != w.cp.Head:
		w.res.fail(e.Seq, "the entry at the checkpoint's size does not have the checkpoint's head hash: rewritten")
	case e.Event == authserver.CheckpointEvent && !w.inChain(e):
	default:
		if r.Entries == 0 {
			r.FirstSeq = e.Seq
		}
		r.Entries, r.LastSeq, w.prev = r.Entries+1, e.Seq, e.Hash
		if e.Seq > w.cp.Size {
			r.AfterCheckpoint++
		}
		w.remember(e)
		return true
	}
	return false
}

func (w *exportWalker) remember(e *store.AuditEntry) {
	w.recent[e.Seq] = e.Hash
	delete(w.recent, e.Seq-recentHashes)
}

// inChain checks a checkpoint entry: its JWS verifies (or is signed by a
// key retired since) and names an entry before it that has its head hash.
func (w *exportWalker) inChain(e *store.AuditEntry) bool {
	raw, ok := authserver.CheckpointJWS(e.Detail)
	if !ok {
		w.res.fail(e.Seq, "checkpoint entry without its signature")
		return false
	}
	cp, err := authserver.VerifyCheckpoint(raw, w.set)
	switch {
	case errors.Is(err, authserver.ErrCheckpointKey):
		w.res.InChainOtherKeys++
		return true
	case err != nil:
		w.res.fail(e.Seq, "checkpoint entry: "+err.Error())
	case cp.Issuer != w.cp.Issuer || cp.Size >= e.Seq:
		w.res.fail(e.Seq, "checkpoint entry of another issuer, or naming a later entry")
	case w.recent[cp.Size] != "" && w.recent[cp.Size] != cp.Head:
		w.res.fail(e.Seq, fmt.Sprintf("checkpoint entry names head %s at seq %d; the export has another entry there", cp.Head, cp.Size))
	default:
		w.res.InChainVerified++
		return true
	}
	return false
}

func (w *exportWalker) finish() (*offlineResult, error) {
	r := w.res
	switch {
	case r.Entries == 0:
		return nil, errors.New("the export holds no entries")
	case r.FirstSeq > w.cp.Size:
		return nil, fmt.Errorf("the export starts at seq %d, after the checkpoint's size %d: take an export that covers it", r.FirstSeq, w.cp.Size)
	case r.LastSeq < w.cp.Size:
		return r.fail(r.LastSeq+1, fmt.Sprintf("the export ends at seq %d, the checkpoint names %d entries: truncated", r.LastSeq, w.cp.Size)), nil
	}
	r.OK, r.Result = true, "ok: chain intact and matches the signed checkpoint"
	return r, nil
}

// loadJWKS reads a JWKS from an http(s) URL or a file.
func loadJWKS(ctx context.Context, src string) (*jose.JSONWebKeySet, error) {
	var data []byte
	var err error
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		data, err = fetchLimited(ctx, src)
	} else {
		data, err = readLimited(src, maxAnswer)
	}
	if err != nil {
		return nil, fmt.Errorf("--jwks: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) == 0 {
		return nil, fmt.Errorf("--jwks %s: not a JWKS with keys", src)
	}
	return &set, nil
}

func fetchLimited(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return io.ReadAll(io.LimitReader(res.Body, maxAnswer))
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, err
}

// unsafeCheckpointPayload reads a checkpoint's payload WITHOUT verifying
// its signature: only for where to start reading the log.
func unsafeCheckpointPayload(raw string) (*authserver.Checkpoint, error) {
	parts := strings.Split(strings.TrimSpace(raw), ".")
	if len(parts) != 3 {
		return nil, errors.New("checkpoint: not a compact JWS")
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var cp authserver.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &cp, nil
}
