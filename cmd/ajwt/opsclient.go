package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/protocol"
)

// opsFlags say which IdP the everyday commands (agent, run, audit show…)
// talk to and as which client: flags first, then the environment
// (AJWT_ISSUER, AJWT_CLIENT_ID, AJWT_CLIENT_SECRET). The secret comes from
// a file or the environment, never from the command line, where other
// users of the machine could read it.
type opsFlags struct {
	issuer, client, secretFile string
	defaultClient              string
}

func (o *opsFlags) register(cmd *cobra.Command, defaultClient string) {
	o.defaultClient = defaultClient
	cmd.Flags().StringVar(&o.issuer, "issuer", "", "the IdP's issuer URL (or env AJWT_ISSUER)")
	cmd.Flags().StringVar(&o.client, "client-id", "", "client id to act as (or env AJWT_CLIENT_ID; default "+defaultClient+")")
	cmd.Flags().StringVar(&o.secretFile, "client-secret-file", "",
		"file holding that client's secret alone, or the client-secrets.env of ajwt init (or env AJWT_CLIENT_SECRET)")
}

// resolve fills what the flags left empty from the environment.
func (o *opsFlags) resolve() (issuer, client, secret string, err error) {
	issuer, client = firstSet(o.issuer, os.Getenv("AJWT_ISSUER")), firstSet(o.client, os.Getenv("AJWT_CLIENT_ID"), o.defaultClient)
	switch {
	case issuer == "":
		return "", "", "", fmt.Errorf("no IdP: give --issuer or set AJWT_ISSUER")
	case o.secretFile != "":
		secret, err = readClientSecret(o.secretFile, client)
	case os.Getenv("AJWT_CLIENT_SECRET") != "":
		secret = os.Getenv("AJWT_CLIENT_SECRET")
	default:
		err = fmt.Errorf("no secret for client %s: give --client-secret-file or set AJWT_CLIENT_SECRET", client)
	}
	return issuer, client, secret, err
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// session obtains the client's access token at the IdP.
func (o *opsFlags) session(ctx context.Context) (*adminSession, error) {
	issuer, client, secret, err := o.resolve()
	if err != nil {
		return nil, err
	}
	return openSession(ctx, issuer, client, secret)
}

// openSession gets a client_credentials token of client at issuer.
func openSession(ctx context.Context, issuer, client, secret string) (*adminSession, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer: want the IdP's http(s) URL, got %q", issuer)
	}
	s := &adminSession{issuer: strings.TrimSuffix(issuer, "/"), hc: &http.Client{Timeout: adminTimeout}}
	form := strings.NewReader(url.Values{"grant_type": {protocol.GrantClientCredentials}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer+"/token", form)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret)) // RFC 6749 §2.3.1
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := s.do(req, &tok); err != nil {
		return nil, err
	}
	s.bearer = "Bearer " + tok.AccessToken
	return s, nil
}

func (s *adminSession) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.issuer+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", s.bearer)
	return s.do(req, out)
}

func (s *adminSession) postJSON(ctx context.Context, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", s.bearer)
	req.Header.Set("Content-Type", "application/json")
	return s.do(req, out)
}

// table writes aligned columns: a header, then rows.
type table struct{ w *tabwriter.Writer }

func newTable(out io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

// when formats a unix time for tables, UTC; "" for none.
func when(unix int64) string {
	if unix == 0 {
		return ""
	}
	return time.Unix(unix, 0).UTC().Format(time.RFC3339)
}

// confirm asks on stdin for word to be typed; anything else, or nothing,
// is no.
func (e *env) confirm(question, word string) error {
	fmt.Fprintf(e.stderr, "%s\nType %q to confirm: ", question, word)
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 1024)).ReadString('\n')
	if strings.TrimSpace(line) == word {
		return nil
	}
	if err != nil && err != io.EOF {
		return err
	}
	return fmt.Errorf("not confirmed: nothing done (--yes skips the question)")
}

// short abbreviates a digest ("sha256:<hex>") for a table.
func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}

// newTableNoHeader is a table whose header was printed before.
func newTableNoHeader(out io.Writer) *table {
	return &table{w: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)}
}

// auditTable prints entries as a run's story reads best: time, event,
// agent, step, outcome, detail.
type auditTable struct{ t *table }

func newAuditTable(w io.Writer) *auditTable {
	return &auditTable{newTable(w, "SEQ", "TIME (UTC)", "EVENT", "CLIENT", "AGENT", "STEP", "OUTCOME", "DETAIL")}
}

// maxDetailCell keeps a table row on a line or two; --json has it all.
const maxDetailCell = 120

func (a *auditTable) add(x *exportEntry) {
	detail := x.Detail
	if len(detail) > maxDetailCell {
		detail = detail[:maxDetailCell] + "…"
	}
	a.t.row(strconv.FormatInt(x.Seq, 10), time.Unix(0, x.TimeNS).UTC().Format("2006-01-02 15:04:05.000"),
		x.Event, x.ClientID, x.AgentID, x.Step, x.Outcome, detail)
}

func (a *auditTable) flush() error { return a.t.flush() }
