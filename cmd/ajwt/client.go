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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/protocol"
)

func (e *env) clientCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "client", Short: "Act on the IdP's OAuth clients"}
	cmd.AddCommand(e.clientRevokeCmd())
	return cmd
}

func (e *env) clientRevokeCmd() *cobra.Command {
	var a adminFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke CLIENT_ID --issuer URL --admin-secret-file F",
		Short: "Revoke every token a client obtained so far (its secret or key leaked); enforcers learn it from the revocation feed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idp, err := a.session(cmd.Context())
			if err != nil {
				return err
			}
			var res clientRevocation
			if err := idp.post(cmd.Context(), "/v1/clients/"+url.PathEscape(args[0])+"/revoke", &res); err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(res)
			}
			_, err = fmt.Fprintf(e.stdout, "revoked client %s at %s (unix %d): its tokens obtained until then are refused; it gets new ones only while configured\n",
				res.ClientID, time.Unix(res.RevokedAt, 0).UTC().Format(time.RFC3339), res.RevokedAt)
			return err
		},
	}
	a.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type clientRevocation struct {
	ClientID  string `json:"client_id"`
	RevokedAt int64  `json:"revoked_at"`
}

// adminFlags say how to reach the IdP's admin API: its issuer URL and a
// client with ajwt:admin, whose secret is read from a file (never from
// the command line, where other users of the machine could read it).
type adminFlags struct {
	issuer, client, secretFile string
}

func (a *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.issuer, "issuer", "", "the IdP's issuer URL")
	cmd.Flags().StringVar(&a.client, "admin-client", "admin", "client id with scope ajwt:admin")
	cmd.Flags().StringVar(&a.secretFile, "admin-secret-file", "",
		"file holding that client's secret alone, or the client-secrets.env of ajwt init")
	_ = cmd.MarkFlagRequired("issuer")
	_ = cmd.MarkFlagRequired("admin-secret-file")
}

// adminSession holds an admin client's access token at one IdP.
type adminSession struct {
	issuer string
	hc     *http.Client
	bearer string
}

// adminTimeout bounds each request to the IdP.
const adminTimeout = 30 * time.Second

func (a *adminFlags) session(ctx context.Context) (*adminSession, error) {
	if u, err := url.Parse(a.issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--issuer: want the IdP's http(s) URL, got %q", a.issuer)
	}
	secret, err := readClientSecret(a.secretFile, a.client)
	if err != nil {
		return nil, err
	}
	return openSession(ctx, a.issuer, a.client, secret)
}

func (s *adminSession) post(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", s.bearer)
	return s.do(req, out)
}

// maxAnswer bounds what is read of an IdP answer.
const maxAnswer = 1 << 20

// do sends req and decodes a 2xx JSON answer into out; any other answer
// is an error carrying the status and the protocol's error code.
func (s *adminSession) do(req *http.Request, out any) error {
	res, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: IdP answered %d %w", req.Method, req.URL.Path, res.StatusCode, answerError(res.StatusCode, body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// answerError is the protocol error of an IdP's error answer (§9: every
// JSON error body is {"error","error_description"} plus extras).
func answerError(status int, body []byte) *protocol.Error {
	var wire protocol.WireError
	if json.Unmarshal(body, &wire) != nil || wire.Error == "" {
		return &protocol.Error{Code: protocol.CodeServerError, Description: http.StatusText(status), Status: status}
	}
	return &protocol.Error{Code: wire.Error, Description: wire.Description, Reason: wire.Reason, Status: status}
}

// maxSecretFile bounds a secret file: a secret, or a few of them.
const maxSecretFile = 64 << 10

// readClientSecret reads client's secret from path: either the secret
// alone, or lines NAME=VALUE as ajwt init writes them, where the line
// AJWT_<CLIENT>_SECRET (upper case, "-" as "_") holds it.
func readClientSecret(path, client string) (string, error) {
	data, err := readFile(path)
	if err != nil {
		return "", err
	}
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxSecretFile)
	}
	name := secretEnvName(client) + "="
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if value, ok := strings.CutPrefix(line, name); ok {
			return value, nil
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 || strings.Contains(lines[0], "_SECRET=") {
		return "", fmt.Errorf("%s: want %s's secret alone, or a line %s…", path, client, name)
	}
	return lines[0], nil
}

// secretEnvName is the variable that holds client's secret in the
// client-secrets.env of ajwt init: AJWT_<CLIENT>_SECRET, upper case, "-"
// as "_".
func secretEnvName(client string) string {
	return "AJWT_" + strings.ToUpper(strings.ReplaceAll(client, "-", "_")) + "_SECRET"
}
