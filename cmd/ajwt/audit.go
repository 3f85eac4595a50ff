package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/store"
)

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect the audit log"}
	cmd.AddCommand(e.auditVerifyCmd())
	return cmd
}

func (e *env) auditVerifyCmd() *cobra.Command {
	var sf storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "Verify the audit log's hash chain: any edited, removed or reordered entry is reported",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
