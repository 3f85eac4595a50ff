package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func (e *env) runCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "run", Short: "List, show, approve, deny and revoke workflow runs at a running IdP"}
	cmd.AddCommand(e.runListCmd(), e.runShowCmd(), e.runDecideCmd("approve"), e.runDecideCmd("deny"), e.runRevokeCmd())
	cmd.SetFlagErrorFunc(runIDHint) // the subcommands inherit it
	return cmd
}

// runIDHint: run ids are base64url, so one in 32 starts with "-" and reads
// as a flag; after "--" it does not.
func runIDHint(_ *cobra.Command, err error) error {
	if strings.Contains(err.Error(), "unknown shorthand flag") {
		return fmt.Errorf("%w (a run id starting with \"-\" goes after \"--\": ajwt run show [flags] -- RUN_ID)", err)
	}
	return err
}

// runStep and runInfo are the run view of §5 (and GET /v1/runs's extras).
type runStep struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	CompletedBy string `json:"completed_by,omitempty"`
	CompletedAt int64  `json:"completed_at,omitempty"`
	ApprovedVia string `json:"approved_via,omitempty"`
	Result      string `json:"result_sha256,omitempty"`
}

type runInfo struct {
	RunID            string            `json:"run_id"`
	WorkflowID       string            `json:"workflow_id"`
	WorkflowVersion  int               `json:"workflow_version"`
	Status           string            `json:"status"`
	InitiatedBy      string            `json:"initiated_by"`
	ExecutionContext map[string]string `json:"execution_context"`
	Steps            []runStep         `json:"steps"`
	ClientID         string            `json:"client_id,omitempty"`
	CreatedAt        int64             `json:"created_at,omitempty"`
}

func (r *runInfo) progress() string {
	done := 0
	for _, st := range r.Steps {
		if st.State == "completed" {
			done++
		}
	}
	return fmt.Sprintf("%d/%d", done, len(r.Steps))
}

func (e *env) runListCmd() *cobra.Command {
	var o opsFlags
	var asJSON bool
	var f struct {
		workflow, status, initiatedBy, before string
		limit                                 int
	}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first (admin: all; a run client: its own; an approver: those it approves for)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(f.limit)}}
			for k, v := range map[string]string{"workflow_id": f.workflow, "status": f.status, "initiated_by": f.initiatedBy, "before": f.before} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var res struct {
				Runs []runInfo `json:"runs"`
				Next *string   `json:"next"`
			}
			if err := idp.get(cmd.Context(), "/v1/runs?"+q.Encode(), &res); err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(res)
			}
			t := newTable(e.stdout, "RUN", "WORKFLOW", "STATUS", "STEPS", "INITIATED BY", "CLIENT", "CREATED")
			for _, r := range res.Runs {
				t.row(r.RunID, r.WorkflowID+"@"+strconv.Itoa(r.WorkflowVersion), r.Status, r.progress(), r.InitiatedBy, r.ClientID, when(r.CreatedAt))
			}
			if res.Next != nil {
				fmt.Fprintf(e.stderr, "more runs: --before %s\n", *res.Next)
			}
			return t.flush()
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&f.workflow, "workflow", "", "only runs of this workflow id")
	cmd.Flags().StringVar(&f.status, "status", "", "only runs in this status: active, completed or revoked")
	cmd.Flags().StringVar(&f.initiatedBy, "initiated-by", "", "only runs started by this person (as written, e.g. user:alice)")
	cmd.Flags().StringVar(&f.before, "before", "", "continue a listing (the cursor the previous one printed)")
	cmd.Flags().IntVar(&f.limit, "limit", 50, "at most this many runs (1-500)")
	return cmd
}

func (e *env) runShowCmd() *cobra.Command {
	var o opsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run and the state of its steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var r runInfo
			if err := idp.get(cmd.Context(), "/v1/runs/"+url.PathEscape(args[0]), &r); err != nil {
				return err
			}
			return e.printRun(&r, asJSON)
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (e *env) printRun(r *runInfo, asJSON bool) error {
	if asJSON {
		return e.printJSON(r)
	}
	fmt.Fprintf(e.stdout, "run %s  workflow %s@%d  %s  initiated by %s\n", r.RunID, r.WorkflowID, r.WorkflowVersion, r.Status, r.InitiatedBy)
	t := newTable(e.stdout, "STEP", "STATE", "COMPLETED BY", "AT", "VIA", "RESULT")
	for _, st := range r.Steps {
		t.row(st.ID, st.State, st.CompletedBy, when(st.CompletedAt), st.ApprovedVia, short(st.Result))
	}
	return t.flush()
}

// runDecideCmd is `run approve` or `run deny`: an approver client decides
// a run waiting at an approval step for the person named by --approver.
func (e *env) runDecideCmd(verb string) *cobra.Command {
	var o opsFlags
	var asJSON bool
	var approver, comment string
	effect := map[string]string{
		"approve": "Approve a run's approval step (the run goes on)",
		"deny":    "Deny a run's approval step: the run is revoked with its tokens",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " RUN_ID STEP --approver NAME [--comment TEXT]",
		Short: effect,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var r runInfo
			path := "/v1/runs/" + url.PathEscape(args[0]) + "/steps/" + url.PathEscape(args[1]) + "/" + verb
			if err := idp.postJSON(cmd.Context(), path, map[string]string{"approver": approver, "comment": comment}, &r); err != nil {
				return err
			}
			return e.printRun(&r, asJSON)
		},
	}
	o.register(cmd, "approver")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&approver, "approver", "", "the person deciding (not the one who started the run, for an approval)")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the audit log (at most 4096 bytes)")
	_ = cmd.MarkFlagRequired("approver")
	return cmd
}

func (e *env) runRevokeCmd() *cobra.Command {
	var o opsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke RUN_ID",
		Short: "Stop a run and revoke its tokens (admin, or the run's own client)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var r runInfo
			if err := idp.post(cmd.Context(), "/v1/runs/"+url.PathEscape(args[0])+"/revoke", &r); err != nil {
				return err
			}
			return e.printRun(&r, asJSON)
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
