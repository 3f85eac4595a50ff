package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/authserver"
)

func (e *env) hashSecretCmd() *cobra.Command {
	var generate bool
	cmd := &cobra.Command{
		Use:   "hash-secret [--generate]",
		Short: "Hash a client secret read from stdin for client_secret_hash (or generate a new one)",
		Long: "Reads one line (the secret) from standard input and prints the value for client_secret_hash.\n" +
			"Secrets made by --generate (256 random bits) get a fast SHA-256 hash; any other secret gets argon2id.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := e.secretInput(generate)
			if err != nil {
				return err
			}
			hash, err := authserver.HashSecret(secret)
			if err != nil {
				return err
			}
			if generate {
				fmt.Fprintf(e.stdout, "client_secret: %s\n", secret)
			}
			_, err = fmt.Fprintf(e.stdout, "client_secret_hash: %q\n", hash)
			return err
		},
	}
	cmd.Flags().BoolVar(&generate, "generate", false, "generate a new secret and print it with its hash")
	return cmd
}

func (e *env) secretInput(generate bool) (string, error) {
	if generate {
		return authserver.GenerateSecret(), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	secret := strings.TrimRight(line, "\r\n")
	if secret == "" {
		if err != nil {
			return "", errors.New("no secret on standard input (or use --generate)")
		}
		return "", errors.New("empty secret")
	}
	return secret, nil
}
