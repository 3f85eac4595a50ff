// Command quickstart is the shortest real use of the ajwt shim: it runs the
// first steps of the vuln-patch workflow against an `ajwt serve` started
// from `ajwt init`.
//
//	go run ./cmd/ajwt init --dir ./ajwt-demo
//	go run ./cmd/ajwt serve --config ./ajwt-demo/ajwt.yaml --data ./ajwt-demo/data &
//	go run ./examples/quickstart --dir ./ajwt-demo
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

func main() {
	dir := flag.String("dir", "ajwt-demo", "the directory `ajwt init` wrote")
	issuer := flag.String("issuer", "http://127.0.0.1:8420", "the IdP's issuer URL")
	flag.Parse()
	if err := quickstart(context.Background(), *dir, *issuer, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func quickstart(ctx context.Context, dir, issuer string, out io.Writer) error {
	secrets, err := readEnv(filepath.Join(dir, "client-secrets.env"))
	if err != nil {
		return err
	}
	master, err := keys.LoadMasterSecretFile(filepath.Join(dir, "shim-master.key"))
	if err != nil {
		return err
	}
	c, err := client.New(ctx, client.Config{Issuer: issuer, ClientID: "patch-app", ClientSecret: secrets["AJWT_PATCH_APP_SECRET"]})
	if err != nil {
		return err
	}
	classifier, err := agent(c, dir, "classifier", master)
	if err != nil {
		return err
	}
	// Start-up check: the agent we run is the agent that was registered.
	if err := classifier.VerifyRegistration(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "classifier: registration verified")

	run, err := c.StartRun(ctx, "vuln-patch", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "run %s started\n", run.ID)

	prompt, err := classifier.Render(map[string]string{"repo": "acme/web"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "prompt rendered (%d bytes)\n", len(prompt))

	tok, err := classifier.TokenSource(run.ID, "classify").Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "intent token for step %s, scope %q\n", tok.Step, tok.Scope)
	// A real agent would now call the forge with
	// &http.Client{Transport: &client.Transport{Source: ...}}.
	done, err := classifier.Complete(ctx, run.ID, "classify")
	if err != nil {
		return err
	}
	for _, s := range done.Steps {
		fmt.Fprintf(out, "  %-9s %s\n", s.ID, s.State)
	}
	return nil
}

func agent(c *client.Client, dir, id string, master []byte) (*client.Agent, error) {
	spec, err := specfile.Load(filepath.Join(dir, "agents", id+".yaml"))
	if err != nil {
		return nil, err
	}
	return c.Agent(spec, client.DerivedKey(master))
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}
