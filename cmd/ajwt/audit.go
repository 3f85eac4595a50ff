package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect, export and verify the audit log"}
	cmd.AddCommand(e.auditVerifyCmd(), e.auditExportCmd(), e.auditCheckpointCmd(), e.auditShowCmd(), e.auditTailCmd())
	return cmd
}

// auditVerifyCmd checks the chain in the IdP's store (--data, --store),
// or offline an export against a signed checkpoint (--file).
func (e *env) auditVerifyCmd() *cobra.Command {
	var sf storeFlags
	var off offlineFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --data DIR | --file EXPORT.jsonl --checkpoint CP.jwt --jwks URL|FILE",
		Short: "Verify the audit log's hash chain: any edited, removed or reordered entry is reported",
		Long: `Verify the audit log's hash chain: any edited, removed or reordered entry is reported.

With --data (or --store) it reads the IdP's store. With --file it checks an export of
` + "`ajwt audit export`" + ` offline against a checkpoint of ` + "`ajwt audit checkpoint`" + `, signed by
the IdP's key: the entries must chain, and the entry at the checkpoint's size must carry
its head hash (an export that stops before it was truncated). Exit status 2: tampered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if off.file != "" {
				return e.verifyOffline(cmd, &off, asJSON)
			}
			ctx := cmd.Context()
			st, err := sf.open(ctx, false)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := verifyAudit(cmd, st)
			if err != nil {
				return err
			}
			if asJSON {
				if err := e.printJSON(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "entries  %d\nhead     %s\nresult   %s\n", res.Entries, res.Head, res.Result)
			}
			if !res.OK {
				return &exitError{code: 2, err: fmt.Errorf("audit chain broken at entry %d: %s", res.BadSeq, res.Problem)}
			}
			return nil
		},
	}
	sf.register(cmd, false)
	off.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type auditResult struct {
	OK      bool   `json:"ok"`
	Entries int    `json:"entries"`
	Head    string `json:"head"`
	Result  string `json:"result"`
	BadSeq  int64  `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// auditPage is how many entries verify reads at a time: its memory is one
// page, whatever the length of the log.
const auditPage = 5000

func verifyAudit(cmd *cobra.Command, st store.Store) (*auditResult, error) {
	ctx := cmd.Context()
	// Entries committed but still in PostgreSQL's audit outbox (e.g. of a
	// node killed before chaining them) are chained first and verified too.
	if err := st.FlushAudit(ctx); err != nil {
		return nil, err
	}
	chain := store.NewAuditChainVerifier()
	var read, headSeq int64
	var headHash, atHead string
	// The head is read first: on PostgreSQL each statement has its own
	// snapshot and chaining goes on while we read, so entries may appear
	// after the head we saw. They must still continue the chain; the head
	// must match the entry at its own seq.
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		if headSeq, headHash, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		for after := int64(0); ; {
			page, err := tx.Audit(ctx, store.AuditFilter{After: after, Limit: auditPage})
			if err != nil || len(page) == 0 {
				return err
			}
			chain.Add(page)
			for _, e := range page {
				if e.Seq == headSeq {
					atHead = e.Hash
				}
			}
			read += int64(len(page))
			after = page[len(page)-1].Seq
		}
	})
	if err != nil {
		return nil, err
	}
	res := &auditResult{Entries: int(read), Head: headHash}
	res.BadSeq, res.Problem = chain.Result()
	if res.Problem == "" && (read < headSeq || (headSeq > 0 && atHead != headHash) || (headSeq == 0 && headHash != store.AuditGenesis)) {
		res.BadSeq, res.Problem = headSeq, "entries missing after the last one present (head record mismatch)"
	}
	if res.Problem == "" && read > headSeq {
		// Chained while we read, the head has moved past them by now;
		// entries the head never covers were added behind its back.
		var now int64
		if err := st.View(ctx, func(tx store.Tx) (err error) { now, _, err = tx.AuditHead(ctx); return err }); err != nil {
			return nil, err
		}
		if now < read {
			res.BadSeq, res.Problem = now+1, "entries after the head record"
		}
	}
	res.OK = res.Problem == ""
	res.Result = "ok: chain intact"
	if !res.OK {
		res.Result = "BROKEN"
	}
	return res, nil
}

// exportEntry is an audit entry as exported: every field the chain hash
// covers, time in nanoseconds as hashed.
type exportEntry struct {
	Seq      int64  `json:"seq"`
	TimeNS   int64  `json:"time_ns"`
	Event    string `json:"event"`
	ClientID string `json:"client_id"`
	AgentID  string `json:"agent_id"`
	RunID    string `json:"run_id"`
	Step     string `json:"step"`
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

func (x *exportEntry) entry() *store.AuditEntry {
	return &store.AuditEntry{Seq: x.Seq, Time: time.Unix(0, x.TimeNS), Event: x.Event, ClientID: x.ClientID, AgentID: x.AgentID,
		RunID: x.RunID, Step: x.Step, Outcome: x.Outcome, Detail: x.Detail, Prev: x.Prev, Hash: x.Hash}
}

// auditAPIPage is how many entries each GET /v1/audit asks for (its maximum).
const auditAPIPage = 1000

// readAudit pages through GET /v1/audit with the filters of q after seq
// after, handing each page to fn, until the last page.
func readAudit(ctx context.Context, idp *adminSession, q url.Values, after int64, fn func([]exportEntry) error) error {
	for {
		q.Set("after", strconv.FormatInt(after, 10))
		var page struct {
			Entries []exportEntry `json:"entries"`
			Next    *int64        `json:"next"`
		}
		if err := idp.get(ctx, "/v1/audit?"+q.Encode(), &page); err != nil {
			return err
		}
		if err := fn(page.Entries); err != nil {
			return err
		}
		if page.Next == nil || len(page.Entries) == 0 {
			return nil
		}
		after = *page.Next
	}
}

func (e *env) auditExportCmd() *cobra.Command {
	var o opsFlags
	var since, out string
	cmd := &cobra.Command{
		Use:   "export [--since SEQ|DURATION] [--out FILE]",
		Short: "Write the audit log as JSON Lines, every hashed field, for `ajwt audit verify --file` (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			after, err := e.exportStart(cmd.Context(), idp, since)
			if err != nil {
				return err
			}
			return e.export(cmd.Context(), idp, after, out)
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().StringVar(&since, "since", "1", "first entry: a sequence number, or a duration back from now (24h)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file (default: standard output)")
	return cmd
}

// exportStart turns --since into the seq to export after.
func (e *env) exportStart(ctx context.Context, idp *adminSession, since string) (int64, error) {
	if seq, err := strconv.ParseInt(since, 10, 64); err == nil {
		if seq < 1 {
			return 0, fmt.Errorf("--since: a sequence number starts at 1")
		}
		return seq - 1, nil
	}
	d, err := time.ParseDuration(since)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since: want a sequence number or a positive duration (24h), got %q", since)
	}
	return firstAfter(ctx, idp, time.Now().Add(-d))
}

// firstAfter finds by bisection the seq before the first entry at or
// after t: entries are chained in nearly the order of their times, so
// the export starts about then, at the cost of a few requests whatever
// the length of the log.
func firstAfter(ctx context.Context, idp *adminSession, t time.Time) (int64, error) {
	size, err := auditSize(ctx, idp)
	if err != nil {
		return 0, err
	}
	lo, hi := int64(1), size+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		var page struct {
			Entries []exportEntry `json:"entries"`
		}
		if err := idp.get(ctx, "/v1/audit?limit=1&after="+strconv.FormatInt(mid-1, 10), &page); err != nil {
			return 0, err
		}
		if len(page.Entries) == 0 || !time.Unix(0, page.Entries[0].TimeNS).Before(t) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// auditSize is the log's head seq, read from a fresh checkpoint without
// verifying it: it only says where to start reading.
func auditSize(ctx context.Context, idp *adminSession) (int64, error) {
	var res struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := idp.get(ctx, "/v1/audit/checkpoint", &res); err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) && perr.Status == http.StatusNotFound {
			return 0, nil // an empty log
		}
		return 0, err
	}
	cp, err := unsafeCheckpointPayload(res.Checkpoint)
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// progressEvery is how many exported entries make a progress line.
const progressEvery = 10_000

func (e *env) export(ctx context.Context, idp *adminSession, after int64, out string) (err error) {
	w, done, err := e.output(out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, done(err == nil)) }()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var n, first, last int64
	err = readAudit(ctx, idp, url.Values{"limit": {strconv.Itoa(auditAPIPage)}}, after, func(page []exportEntry) error {
		for i := range page {
			if err := enc.Encode(&page[i]); err != nil {
				return err
			}
			if n++; n%progressEvery == 0 {
				fmt.Fprintf(e.stderr, "exported %d entries (up to seq %d)\n", n, page[i].Seq)
			}
			first, last = cmp.Or(first, page[i].Seq), page[i].Seq
		}
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		fmt.Fprintf(e.stderr, "exported %d entries (seq %d to %d)\n", n, first, last)
	}
	return err
}

// output is standard output, or a new file that is removed again unless
// done is told the export succeeded.
func (e *env) output(path string) (io.Writer, func(ok bool) error, error) {
	if path == "" {
		return e.stdout, func(bool) error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, func(ok bool) error {
		err := f.Close()
		if !ok || err != nil {
			return errors.Join(err, os.Remove(path))
		}
		return nil
	}, nil
}

func (e *env) auditCheckpointCmd() *cobra.Command {
	var o opsFlags
	cmd := &cobra.Command{
		Use:   "checkpoint > cp.jwt",
		Short: "Print a checkpoint of the audit log signed by the IdP's key (admin), for `ajwt audit verify --checkpoint`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var res struct {
				Checkpoint string `json:"checkpoint"`
			}
			if err := idp.get(cmd.Context(), "/v1/audit/checkpoint", &res); err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, res.Checkpoint)
			return err
		},
	}
	o.register(cmd, "admin")
	return cmd
}

func (e *env) auditShowCmd() *cobra.Command {
	var o opsFlags
	var runID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --run RUN_ID",
		Short: "Print a run's story from the audit log: who did what, at which step (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var all []exportEntry
			q := url.Values{"run_id": {runID}, "limit": {strconv.Itoa(auditAPIPage)}}
			if err := readAudit(cmd.Context(), idp, q, 0, func(page []exportEntry) error { all = append(all, page...); return nil }); err != nil {
				return err
			}
			if len(all) == 0 {
				return fmt.Errorf("no audit entries for run %s", runID)
			}
			if asJSON {
				return e.printJSON(all)
			}
			t := newAuditTable(e.stdout)
			for i := range all {
				t.add(&all[i])
			}
			return t.flush()
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().StringVar(&runID, "run", "", "the run's id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("run")
	return cmd
}

func (e *env) auditTailCmd() *cobra.Command {
	var o opsFlags
	var n int
	var follow, asJSON bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "tail [-n N] [--follow]",
		Short: "Print the newest audit entries, and with --follow those that come (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			idp, err := o.session(ctx)
			if err != nil {
				return err
			}
			size, err := auditSize(ctx, idp)
			if err != nil {
				return err
			}
			p := &tailPrinter{e: e, asJSON: asJSON, after: max(0, size-int64(n))}
			if err := p.poll(ctx, idp); err != nil || !follow {
				return err
			}
			return p.follow(ctx, idp, every)
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "how many of the newest entries to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries until interrupted")
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "with --follow, how often to ask")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON entry per line")
	return cmd
}

// tailPrinter prints entries after the last one printed.
type tailPrinter struct {
	e      *env
	asJSON bool
	after  int64
	header bool
}

func (p *tailPrinter) poll(ctx context.Context, idp *adminSession) error {
	return readAudit(ctx, idp, url.Values{"limit": {strconv.Itoa(auditAPIPage)}}, p.after, func(page []exportEntry) error {
		if len(page) == 0 {
			return nil
		}
		p.after = page[len(page)-1].Seq
		if p.asJSON {
			enc := json.NewEncoder(p.e.stdout)
			for i := range page {
				if err := enc.Encode(&page[i]); err != nil {
					return err
				}
			}
			return nil
		}
		// Columns line up within a page: a stream has no last line to
		// measure the widths by.
		t := &auditTable{newTableNoHeader(p.e.stdout)}
		if !p.header {
			t, p.header = newAuditTable(p.e.stdout), true
		}
		for i := range page {
			t.add(&page[i])
		}
		return t.flush()
	})
}

func (p *tailPrinter) follow(ctx context.Context, idp *adminSession, every time.Duration) error {
	t := time.NewTicker(max(every, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: the normal end of --follow
		case <-t.C:
			if err := p.poll(ctx, idp); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}
