package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

func (e *env) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Agent and issuer keys: derive, generate, rotate"}
	cmd.AddCommand(e.keysDeriveCmd(), e.keysGenerateCmd(), e.keysRotateCmd())
	return cmd
}

// publicKeyOut is what key commands print: never private material.
type publicKeyOut struct {
	AgentID       string `json:"agent_id,omitempty"`
	AgentChecksum string `json:"agent_checksum,omitempty"`
	JKT           string `json:"jkt"`
	PublicJWK     any    `json:"public_jwk"`
}

func (e *env) keysDeriveCmd() *cobra.Command {
	var secretFile, agentFile string
	cmd := &cobra.Command{
		Use:   "derive --secret-file F --agent FILE",
		Short: "Derive an agent's Ed25519 key (PROTOCOL.md §3) and print its public JWK and jkt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			master, err := keys.LoadMasterSecretFile(secretFile)
			if err != nil {
				return err
			}
			spec, err := specfile.Load(agentFile)
			if err != nil {
				return err
			}
			sum, err := agentspec.Sum(spec)
			if err != nil {
				return fmt.Errorf("%s: %w", agentFile, err)
			}
			priv, err := keys.DeriveAgentKey(master, spec.AgentID, string(sum))
			if err != nil {
				return err
			}
			signer, err := keys.NewSigner(priv, keys.EdDSA, "")
			if err != nil {
				return err
			}
			return e.printJSON(publicKeyOut{AgentID: spec.AgentID, AgentChecksum: string(sum), JKT: signer.Thumbprint(), PublicJWK: signer.Public()})
		},
	}
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the shim master secret (≥ 32 bytes; 64+ hex digits or raw)")
	cmd.Flags().StringVar(&agentFile, "agent", "", "agent spec file (YAML or JSON)")
	_ = cmd.MarkFlagRequired("secret-file")
	_ = cmd.MarkFlagRequired("agent")
	return cmd
}

func (e *env) keysGenerateCmd() *cobra.Command {
	var algName, out string
	cmd := &cobra.Command{
		Use:   "generate --alg ES256|EdDSA|RS256 [--out FILE]",
		Short: "Generate a key pair: the private key as PKCS#8 PEM (to --out, mode 0600, or stdout)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, err := keys.ParseAlg(algName)
			if err != nil {
				return err
			}
			signer, err := keys.Generate(alg, nil)
			if err != nil {
				return err
			}
			pem, err := keys.MarshalPrivatePEM(signer.CryptoSigner())
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(pem)
				return err
			}
			if err := writeNewFile(out, pem, 0o600); err != nil {
				return err
			}
			return e.printJSON(publicKeyOut{JKT: signer.Thumbprint(), PublicJWK: signer.Public()})
		},
	}
	cmd.Flags().StringVar(&algName, "alg", "ES256", "ES256, EdDSA or RS256")
	cmd.Flags().StringVar(&out, "out", "", "write the private key here (refuses to overwrite) and print the public JWK")
	return cmd
}

func (e *env) keysRotateCmd() *cobra.Command {
	var algName string
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "rotate --data DIR",
		Short: "Add a new issuer signing key and retire the current one (retired keys stay in JWKS for the token lifetime)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, err := keys.ParseAlg(algName)
			if err != nil {
				return err
			}
			st, err := sf.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer st.Close()
			cipher, err := sf.cipher()
			if err != nil {
				return err
			}
			kid, err := authserver.RotateKey(cmd.Context(), st, alg, time.Now(), cipher)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "new signing key %s (%s); running servers pick it up within their key refresh interval\n", kid, alg)
			return err
		},
	}
	sf.register(cmd, false)
	cmd.Flags().StringVar(&algName, "alg", "ES256", "algorithm of the new key")
	return cmd
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeNewFile creates path with mode, refusing to overwrite.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
