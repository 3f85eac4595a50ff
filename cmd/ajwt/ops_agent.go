package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func (e *env) agentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "List, show and revoke the agents registered at a running IdP"}
	cmd.AddCommand(e.agentListCmd(), e.agentShowCmd(), e.agentRevokeCmd())
	return cmd
}

// agentItem is an agent as GET /v1/agents lists it.
type agentItem struct {
	AgentID   string `json:"agent_id"`
	ClientID  string `json:"client_id"`
	Version   int    `json:"version"`
	Checksum  string `json:"agent_checksum"`
	JKT       string `json:"jkt"`
	Revoked   bool   `json:"revoked"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
	UpdatedAt int64  `json:"updated_at"`
}

func (e *env) agentListCmd() *cobra.Command {
	var o opsFlags
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered agents (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var res struct {
				Agents    []agentItem `json:"agents"`
				Truncated bool        `json:"truncated"`
			}
			if err := idp.get(cmd.Context(), "/v1/agents?limit="+strconv.Itoa(limit), &res); err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(res)
			}
			t := newTable(e.stdout, "AGENT", "CLIENT", "VERSION", "CHECKSUM", "REVOKED", "UPDATED")
			for _, a := range res.Agents {
				t.row(a.AgentID, a.ClientID, strconv.Itoa(a.Version), short(a.Checksum), revokedCell(a.Revoked, a.RevokedAt), when(a.UpdatedAt))
			}
			if res.Truncated {
				fmt.Fprintf(e.stderr, "more than %d agents: the first %d by id are listed\n", limit, limit)
			}
			return t.flush()
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many agents (1-1000)")
	return cmd
}

func revokedCell(revoked bool, at int64) string {
	if !revoked {
		return "no"
	}
	return "yes " + when(at)
}

// agentDetail is GET /v1/agents/{id}.
type agentDetail struct {
	AgentID          string   `json:"agent_id"`
	RegistrationID   string   `json:"registration_id"`
	Version          int      `json:"version"`
	Checksum         string   `json:"agent_checksum"`
	JKT              string   `json:"jkt"`
	ClientID         string   `json:"client_id"`
	Scopes           []string `json:"scopes"`
	Audiences        []string `json:"audiences"`
	MayDelegateTo    []string `json:"may_delegate_to"`
	WorkflowRequired *bool    `json:"workflow_required"`
	Revoked          *bool    `json:"revoked"`
}

func (e *env) agentShowCmd() *cobra.Command {
	var o opsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show AGENT_ID",
		Short: "Show an agent's registration (never its spec)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			var a agentDetail
			if err := idp.get(cmd.Context(), "/v1/agents/"+url.PathEscape(args[0]), &a); err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(a)
			}
			return e.printAgent(&a)
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (e *env) printAgent(a *agentDetail) error {
	t := newTable(e.stdout, "agent", a.AgentID)
	t.row("client", a.ClientID)
	t.row("version", strconv.Itoa(a.Version))
	t.row("registration", a.RegistrationID)
	t.row("checksum", a.Checksum)
	t.row("jkt", a.JKT)
	t.row("scopes", strings.Join(a.Scopes, " "))
	t.row("audiences", strings.Join(a.Audiences, " "))
	t.row("may delegate to", strings.Join(a.MayDelegateTo, " "))
	t.row("workflow required", yesNo(a.WorkflowRequired))
	t.row("revoked", yesNo(a.Revoked))
	return t.flush()
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "yes"
	}
	return "no"
}

func (e *env) agentRevokeCmd() *cobra.Command {
	var o opsFlags
	var asJSON, yes bool
	cmd := &cobra.Command{
		Use:   "revoke AGENT_ID [--yes]",
		Short: "Revoke an agent for good: its tokens are refused and it gets no new ones, even re-registered",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			idp, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			if !yes {
				q := fmt.Sprintf("Revoking agent %s is permanent: every token it holds is refused at once, and it never gets a new one, even if registered again.", id)
				if err := e.confirm(q, id); err != nil {
					return err
				}
			}
			var res struct {
				AgentID string `json:"agent_id"`
				Revoked bool   `json:"revoked"`
			}
			if err := idp.post(cmd.Context(), "/v1/agents/"+url.PathEscape(id)+"/revoke", &res); err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(res)
			}
			_, err = fmt.Fprintf(e.stdout, "revoked agent %s: enforcers refuse its tokens once they read the revocation feed\n", res.AgentID)
			return err
		},
	}
	o.register(cmd, "admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
