package main

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
)

// chainingMeanwhile is the real PostgreSQL store with one interference:
// right after a View reads the audit head, another "node" appends and
// chains entries, as a live cluster does while `ajwt audit verify` reads.
type chainingMeanwhile struct {
	store.Store
	t *testing.T
}

func (c chainingMeanwhile) View(ctx context.Context, fn func(store.Tx) error) error {
	return c.Store.View(ctx, func(tx store.Tx) error { return fn(headThenAppend{tx, c}) })
}

type headThenAppend struct {
	store.Tx
	c chainingMeanwhile
}

func (h headThenAppend) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := h.Tx.AuditHead(ctx)
	appendAudit(h.c.t, h.c.Store, 3)
	return seq, hash, err
}

func appendAudit(t *testing.T, s store.Store, n int) {
	for range n {
		if err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.AppendAudit(t.Context(), &store.AuditEntry{Time: time.Now(), Event: "grant"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FlushAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyWhileChaining: entries chained after the head was read
// are no tampering, and verify says the chain is intact.
func TestAuditVerifyWhileChaining(t *testing.T) {
	pg, _ := requireServices(t)
	st, err := sqlstore.OpenPostgres(t.Context(), freshSchema(t, pg), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendAudit(t, st, 5)
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	res, err := verifyAudit(cmd, chainingMeanwhile{st, t})
	if err != nil || !res.OK || res.Entries < 8 {
		t.Fatalf("verify while chaining: %+v %v", res, err)
	}
}

// pagedChain is a store holding an intact audit chain of n entries that
// it makes up page by page, so that nothing but the verifier can hold on
// to them. It remembers each served entry weakly: an entry still alive
// long after its page was verified is one the verifier kept.
type pagedChain struct {
	store.Store // nil: verify needs only what is below
	n           int64
	hashes      map[int64]string // seq → hash, for chaining the next page
	served      []weak.Pointer[store.AuditEntry]
	retained    int // entries of pages two behind still alive at a page read
}

func (p *pagedChain) FlushAudit(context.Context) error { return nil }

func (p *pagedChain) View(ctx context.Context, fn func(store.Tx) error) error {
	return fn(pagedTx{p: p})
}

type pagedTx struct {
	store.Tx
	p *pagedChain
}

func (t pagedTx) AuditHead(context.Context) (int64, string, error) {
	t.p.hash(t.p.n)
	return t.p.n, t.p.hashes[t.p.n], nil
}

// hash makes the chain's hashes up to seq (strings only: they hold no
// entry alive).
func (p *pagedChain) hash(seq int64) {
	for s := int64(len(p.hashes)); s <= seq; s++ {
		if s == 0 {
			p.hashes[0] = store.AuditGenesis
			continue
		}
		p.hashes[s] = store.HashAudit(p.entry(s))
	}
}

func (p *pagedChain) entry(seq int64) *store.AuditEntry {
	e := &store.AuditEntry{Seq: seq, Time: time.Unix(1_800_000_000+seq, 0), Event: "grant", ClientID: "app", Outcome: "issued",
		Detail: strings.Repeat("x", 200), Prev: p.hashes[seq-1]}
	e.Hash = store.HashAudit(e)
	return e
}

func (t pagedTx) Audit(_ context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	p, after, limit := t.p, f.After, f.Limit
	runtime.GC()
	for _, w := range p.served[:max(0, len(p.served)-2*limit)] {
		if w.Value() != nil {
			p.retained++
		}
	}
	var page []*store.AuditEntry
	for s := after + 1; s <= p.n && len(page) < limit; s++ {
		p.hash(s)
		page = append(page, p.entry(s))
		p.served = append(p.served, weak.Make(page[len(page)-1]))
	}
	return page, nil
}

// TestAuditVerifyStreams: verify reads the log page by page and keeps no
// entry once its page is checked, so its memory does not grow with the
// log (1 M entries took 879 MB when it held them all), and it still finds
// the chain intact.
func TestAuditVerifyStreams(t *testing.T) {
	p := &pagedChain{n: 20_000, hashes: map[int64]string{}}
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	res, err := verifyAudit(cmd, p)
	if err != nil || !res.OK || res.Entries != 20_000 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if p.retained > 0 {
		t.Fatalf("%d entries of pages already verified were still held", p.retained)
	}
}

// exportFixture is a synthetic log of n entries signed by an IdP key:
// entry 6 is an in-chain checkpoint of the first 5, and cp a checkpoint
// of the first 8.
type exportFixture struct {
	key     *keys.Signer
	set     *jose.JSONWebKeySet
	entries []*store.AuditEntry
	cp      string
}

const fixtureIssuer = "https://idp.example"

func newExportFixture(t *testing.T) *exportFixture {
	t.Helper()
	key, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &exportFixture{key: key, set: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}}
	for seq := int64(1); seq <= 10; seq++ {
		e := &store.AuditEntry{Seq: seq, Time: time.Unix(1_800_000_000, seq*1_000_123), Event: "grant", ClientID: "app",
			AgentID: "planner", Outcome: "issued", Detail: "intent chain=planner"}
		if seq == 6 {
			e.Event, e.Outcome, e.Detail = authserver.CheckpointEvent, "ok", f.inChain(t, key, 5)
		}
		f.append(e)
	}
	f.cp = signCheckpoint(t, key, &authserver.Checkpoint{Issuer: fixtureIssuer, Size: 8, Head: f.entries[7].Hash, Time: 1_800_000_100})
	return f
}

func (f *exportFixture) append(e *store.AuditEntry) {
	e.Prev = store.AuditGenesis
	if n := len(f.entries); n > 0 {
		e.Prev = f.entries[n-1].Hash
	}
	e.Hash = store.HashAudit(e)
	f.entries = append(f.entries, e)
}

func (f *exportFixture) inChain(t *testing.T, key *keys.Signer, size int64) string {
	cp := &authserver.Checkpoint{Issuer: fixtureIssuer, Size: size, Head: f.entries[size-1].Hash, Time: 1_800_000_050}
	return authserver.CheckpointDetail(cp, signCheckpoint(t, key, cp))
}

func signCheckpoint(t *testing.T, key *keys.Signer, cp *authserver.Checkpoint) string {
	t.Helper()
	js, err := key.JOSE(authserver.CheckpointType, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(cp)
	obj, err := js.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := obj.CompactSerialize()
	return raw
}

// jsonl writes entries as ajwt audit export does.
func jsonl(entries []*store.AuditEntry) string {
	var b strings.Builder
	for _, e := range entries {
		x := exportEntry{e.Seq, e.Time.UnixNano(), e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail, e.Prev, e.Hash}
		line, _ := json.Marshal(x)
		b.Write(append(line, '\n'))
	}
	return b.String()
}

// rehash recomputes the chain from index i on, as someone with write
// access to the database and no signing key could.
func rehash(entries []*store.AuditEntry, i int) {
	for ; i < len(entries); i++ {
		if i > 0 {
			entries[i].Prev = entries[i-1].Hash
		}
		entries[i].Hash = store.HashAudit(entries[i])
	}
}

func clone(entries []*store.AuditEntry) []*store.AuditEntry {
	out := make([]*store.AuditEntry, len(entries))
	for i, e := range entries {
		c := *e
		out[i] = &c
	}
	return out
}

// TestVerifyExport: the offline check accepts an intact export, from the
// genesis or from later on, and names what is wrong with a tampered one.
func TestVerifyExport(t *testing.T) {
	f := newExportFixture(t)
	impostor, _ := keys.NewSigner(mustKey(t).CryptoSigner(), keys.ES256, f.key.KeyID())
	tests := []struct {
		name    string
		edit    func(es []*store.AuditEntry) []*store.AuditEntry
		set     *jose.JSONWebKeySet
		issuer  string // or "resign": the checkpoint is signed over the edited entries
		problem string // "" when it verifies
	}{
		{"intact", nil, nil, "", ""},
		{"starts after the genesis", func(es []*store.AuditEntry) []*store.AuditEntry { return es[2:] }, nil, "", ""},
		{"expected issuer", nil, nil, fixtureIssuer + "/", ""},
		{"edited", func(es []*store.AuditEntry) []*store.AuditEntry { es[2].Outcome = "refused:access_denied"; return es }, nil, "", "edited"},
		{"removed", func(es []*store.AuditEntry) []*store.AuditEntry { return append(es[:2], es[3:]...) }, nil, "", "removed or reordered"},
		{"reordered", func(es []*store.AuditEntry) []*store.AuditEntry { es[2], es[3] = es[3], es[2]; return es }, nil, "", "removed or reordered"},
		{"truncated", func(es []*store.AuditEntry) []*store.AuditEntry { return es[:7] }, nil, "", "truncated"},
		{"rewritten after the in-chain checkpoint", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[6].Outcome = "refused:access_denied"
			rehash(es, 6)
			return es
		}, nil, "", "rewritten"},
		{"rewritten before the in-chain checkpoint", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[2].Outcome = "refused:access_denied"
			rehash(es, 2)
			return es
		}, nil, "", "checkpoint entry names head"},
		// The IdP signed a checkpoint of the rewritten log (the rewrite came
		// first): the checkpoint written into the chain before still tells.
		{"rewritten before a checkpoint the IdP signed later", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[2].Outcome = "refused:access_denied"
			rehash(es, 2)
			return es
		}, nil, "resign", "checkpoint entry names head"},
		{"in-chain checkpoint forged", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[5].Detail = f.inChain(t, impostor, 5)
			rehash(es, 5)
			return es
		}, nil, "resign", "checkpoint entry: checkpoint: signature"},
		{"first entry not from the genesis", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[0].Prev = es[1].Hash
			rehash(es, 0)
			return es
		}, nil, "", "genesis"},
		{"another IdP's key", nil, &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{impostor.Public()}}, "", "does not verify"},
		{"another issuer expected", nil, nil, "https://other.example", "not https://other.example's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := clone(f.entries)
			if tt.edit != nil {
				es = tt.edit(es)
			}
			cp, issuer := f.cp, tt.issuer
			if issuer == "resign" {
				cp, issuer = signCheckpoint(t, f.key, &authserver.Checkpoint{Issuer: fixtureIssuer, Size: 8, Head: es[7].Hash, Time: 1_800_000_200}), ""
			}
			res, err := verifyExport(strings.NewReader(jsonl(es)), cp, cmp.Or(tt.set, f.set), issuer)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != (tt.problem == "") || !strings.Contains(res.Problem, tt.problem) {
				t.Fatalf("ok %v, problem %q; want %q", res.OK, res.Problem, tt.problem)
			}
		})
	}
}

func mustKey(t *testing.T) *keys.Signer {
	k, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifyExportCounts: what an intact export reports about the
// checkpoints in it and the entries past the signed one.
func TestVerifyExportCounts(t *testing.T) {
	f := newExportFixture(t)
	res, err := verifyExport(strings.NewReader(jsonl(f.entries)), f.cp, f.set, "")
	if err != nil || !res.OK || res.Entries != 10 || res.AfterCheckpoint != 2 || res.InChainVerified != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	es := clone(f.entries)
	es[5].Detail = f.inChain(t, mustKey(t), 5)
	rehash(es, 5)
	cp := signCheckpoint(t, f.key, &authserver.Checkpoint{Issuer: fixtureIssuer, Size: 8, Head: es[7].Hash, Time: 1_800_000_100})
	if res, err := verifyExport(strings.NewReader(jsonl(es)), cp, f.set, ""); err != nil || !res.OK || res.InChainOtherKeys != 1 {
		t.Fatalf("in-chain checkpoint of a retired key: %+v %v", res, err)
	}
	if _, err := verifyExport(strings.NewReader(jsonl(f.entries[8:])), f.cp, f.set, ""); err == nil || !strings.Contains(err.Error(), "after the checkpoint") {
		t.Fatalf("an export starting after the checkpoint: %v", err)
	}
}

// TestAuditExportVerifiesOffline is the auditor's path against a real
// IdP: a checkpoint, then an export, checked offline with the JWKS by URL
// or file; an edited or truncated export fails with exit status 2.
func TestAuditExportVerifiesOffline(t *testing.T) {
	o := startOpsIdP(t)
	run := o.runAtApproval()
	dir := t.TempDir()
	cp, export := filepath.Join(dir, "cp.jwt"), filepath.Join(dir, "export.jsonl")
	out := cliCase{"checkpoint", "", o.as("admin", "audit", "checkpoint"), 0, `^ey[^.]+\.[^.]+\.[^.]+\n$`, ""}.run(t)
	saveFile(t, dir, "cp.jwt", out)
	cliCase{"export", "", o.as("admin", "audit", "export", "--out", export), 0, `^$`, "exported "}.run(t)
	cliCase{"export over a file", "", o.as("admin", "audit", "export", "--out", export), 1, `^$`, "exists"}.run(t)
	_, jwks := o.call(http.MethodGet, "/jwks.json", "", nil, nil)
	jwksFile := saveFile(t, dir, "jwks.json", mustJSON(jwks))
	verify := func(file string, extra ...string) []string {
		return append([]string{"audit", "verify", "--file", file, "--checkpoint", cp}, extra...)
	}
	lines := strings.SplitAfter(strings.TrimSpace(readString(t, export)), "\n")
	edited := saveFile(t, dir, "edited.jsonl", strings.Join(lines[:2], "")+strings.Replace(lines[2], `"detail":"`, `"detail":"edited `, 1)+strings.Join(lines[3:], ""))
	truncated := saveFile(t, dir, "truncated.jsonl", strings.Join(lines[:3], ""))
	tests := []cliCase{
		{"jwks by URL", "", verify(export, "--jwks", o.base+"/jwks.json"), 0, `result\s+ok: chain intact`, ""},
		{"jwks file and issuer", "", verify(export, "--jwks", jwksFile, "--expect-issuer", o.base), 0, `checkpoint\s+size \d+`, ""},
		{"edited", "", verify(edited, "--jwks", jwksFile), 2, `TAMPERED`, "edited"},
		{"truncated", "", verify(truncated, "--jwks", jwksFile), 2, `TAMPERED`, "truncated"},
		{"no jwks", "", verify(export), 1, `^$`, "--jwks"},
		{"the store still", "", []string{"audit", "verify", "--data", filepath.Join(o.dir, "nowhere")}, 1, `^$`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
	if !strings.Contains(readString(t, edited), `"detail":"edited `) {
		t.Fatal("the edit did not happen")
	}
	out = cliCase{"json", "", verify(export, "--jwks", jwksFile, "--json"), 0, "", ""}.run(t)
	var res offlineResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK || res.FirstSeq != 1 || res.Checkpoint == nil || res.LastSeq < res.Checkpoint.Size {
		t.Fatalf("verify --json: %v %s", err, out)
	}
	later := filepath.Join(dir, "later.jsonl")
	cliCase{"export --since", "", o.as("admin", "audit", "export", "--since", "5", "--out", later), 0, "", ""}.run(t)
	cliCase{"a later export", "", verify(later, "--jwks", jwksFile), 0, `seq 5 to`, ""}.run(t)
	recent := cliCase{"export --since 1h", "", o.as("admin", "audit", "export", "--since", "1h"), 0, `^\{"seq":1,"time_ns":`, ""}.run(t)
	if strings.Count(recent, "\n") < len(lines) {
		t.Fatalf("--since 1h exported %d entries, fewer than the %d before", strings.Count(recent, "\n"), len(lines))
	}
	_ = run
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestAuditShowAndTail: a run's story as a table and JSON; the newest
// entries; --follow prints what comes until interrupted.
func TestAuditShowAndTail(t *testing.T) {
	o := startOpsIdP(t)
	run := o.runAtApproval()
	tests := []cliCase{
		{"show", "", o.as("admin", "audit", "show", "--run", run), 0, `(?s)TIME \(UTC\)\s+EVENT.*create_run.*grant\s+patch-app\s+classifier\s+classify\s+issued.*complete_step`, ""},
		{"show an unknown run", "", o.as("admin", "audit", "show", "--run", "nope"), 1, `^$`, "no audit entries"},
		{"show without --run", "", o.as("admin", "audit", "show"), 1, `^$`, "run"},
		{"tail", "", o.as("admin", "audit", "tail", "-n", "3"), 0, `^SEQ[^\n]*\n([^\n]+\n){3}$`, ""},
		{"tail --json", "", o.as("admin", "audit", "tail", "-n", "2", "--json"), 0, `^(\{"seq":\d+,"time_ns":\d+[^\n]*\n){2}$`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
	out := cliCase{"show --json", "", o.as("admin", "audit", "show", "--run", run, "--json"), 0, "", ""}.run(t)
	var story []exportEntry
	if err := json.Unmarshal([]byte(out), &story); err != nil || len(story) < 7 {
		t.Fatalf("show --json: %v %s", err, out)
	}
	for _, e := range story {
		if e.RunID != run {
			t.Fatalf("entry %d of run %q in the story of %s", e.Seq, e.RunID, run)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	go func() { time.Sleep(time.Second); o.startRun(o.sec) }()
	var stdout, stderr strings.Builder
	code := runCLI(ctx, o.as("admin", "audit", "tail", "-n", "1", "--follow", "--interval", "200ms"), &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "create_run") {
		t.Fatalf("tail --follow: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
}

// runCLI runs one command line in-process until ctx ends it.
func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, strings.NewReader(""), stdout, stderr)
}

// saveFile writes name in dir and returns its path.
func saveFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
