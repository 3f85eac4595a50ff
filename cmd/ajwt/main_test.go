package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets tests run the real binary as a subprocess: the test binary
// re-executes itself with AJWT_MAIN=1 and behaves as `ajwt`.
func TestMain(m *testing.M) {
	if os.Getenv("AJWT_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// ajwt runs one command line in-process.
func ajwt(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestChecksumCommand(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "a.json")
	os.WriteFile(spec, []byte(`{"agent_id":"planner","prompt_template":"You plan dependency upgrades.","tools":[]}`), 0o644)
	const want = "sha256:467a6f653944f2019ccf64113cd97681d37756d9d3fb001b10ae168f32d765d8" // shared/vectors "minimal"

	out, errOut, code := ajwt(t, "", "checksum", spec)
	if code != 0 || out != want+"\n" || errOut != "" {
		t.Fatalf("checksum: code %d out %q err %q", code, out, errOut)
	}
	out, _, _ = ajwt(t, "", "checksum", "--canonical", spec)
	if out != `{"agent_id":"planner","prompt_template":"You plan dependency upgrades.","tools":[]}`+"\n" {
		t.Fatalf("--canonical: %q", out)
	}
	out, _, _ = ajwt(t, "", "checksum", "--json", spec)
	if !strings.Contains(out, `"agent_checksum":"`+want+`"`) {
		t.Fatalf("--json: %q", out)
	}
	for _, name := range []string{"planner", "patcher", "classifier", "supervisor"} {
		if _, errOut, code := ajwt(t, "", "checksum", "../../examples/vuln-patch/agents/"+name+".yaml"); code != 0 {
			t.Errorf("example %s: %s", name, errOut)
		}
	}
}

func TestCommandErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("agent_id: x\nprompt_template: hi {{who}}\nmodel: gpt\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string // substring of the one-line error
	}{
		{"missing file", []string{"checksum", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"bad spec names the line", []string{"checksum", bad}, "line"},
		{"unknown flag", []string{"checksum", "--bogus", bad}, "bogus"},
		{"no args", []string{"checksum"}, "arg"},
		{"bad alg", []string{"keys", "generate", "--alg", "HS256"}, "HS256"},
		{"derive needs flags", []string{"keys", "derive"}, "required"},
		{"serve bad config", []string{"serve", "--config", bad, "--data", dir}, "bad.yaml"},
		{"audit verify without db", []string{"audit", "verify", "--data", dir}, "no ajwt database"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := ajwt(t, "", tt.args...)
			if code == 0 {
				t.Fatalf("exit 0, out %q", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "ajwt: ") || !strings.Contains(errOut, tt.want) {
				t.Fatalf("stderr %q, want one line containing %q", errOut, tt.want)
			}
		})
	}
}

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "master.key")
	os.WriteFile(secret, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	out, errOut, code := ajwt(t, "", "keys", "derive", "--secret-file", secret, "--agent", "../../examples/vuln-patch/agents/patcher.yaml")
	if code != 0 || !strings.Contains(out, `"jkt"`) || !strings.Contains(out, `"crv": "Ed25519"`) || strings.Contains(out, `"d"`) {
		t.Fatalf("derive: %d %q %q", code, out, errOut)
	}
	out2, _, _ := ajwt(t, "", "keys", "derive", "--secret-file", secret, "--agent", "../../examples/vuln-patch/agents/patcher.yaml")
	if out != out2 {
		t.Fatal("derivation is not deterministic")
	}
	os.WriteFile(secret, []byte("short"), 0o600)
	if _, errOut, code := ajwt(t, "", "keys", "derive", "--secret-file", secret, "--agent", "../../examples/vuln-patch/agents/patcher.yaml"); code == 0 {
		t.Fatal("a 5-byte master secret was accepted")
	} else if !strings.Contains(errOut, "32") {
		t.Fatalf("error %q does not explain the size", errOut)
	}
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		out, errOut, code := ajwt(t, "", "keys", "generate", "--alg", alg)
		if code != 0 || !strings.HasPrefix(out, "-----BEGIN PRIVATE KEY-----") {
			t.Fatalf("generate %s: %d %q %q", alg, code, out, errOut)
		}
	}
	keyFile := filepath.Join(dir, "k.pem")
	if out, errOut, code := ajwt(t, "", "keys", "generate", "--alg", "ES256", "--out", keyFile); code != 0 || !strings.Contains(out, `"kty": "EC"`) {
		t.Fatalf("generate --out: %d %q %q", code, out, errOut)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	if _, _, code := ajwt(t, "", "keys", "generate", "--alg", "ES256", "--out", keyFile); code == 0 {
		t.Fatal("generate overwrote an existing key file")
	}
}

func TestHashSecret(t *testing.T) {
	out, _, code := ajwt(t, "correct horse battery staple\n", "hash-secret")
	if code != 0 || !strings.Contains(out, "$argon2id$v=19$") {
		t.Fatalf("human secret: %d %q", code, out)
	}
	out, _, code = ajwt(t, "", "hash-secret", "--generate")
	if code != 0 || !strings.Contains(out, "client_secret: ajwt_s_") || !strings.Contains(out, "$sha256$") {
		t.Fatalf("generated secret: %d %q", code, out)
	}
	if _, _, code := ajwt(t, "", "hash-secret"); code == 0 {
		t.Fatal("empty stdin accepted")
	}
}

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte("issuer: http://127.0.0.1:8420\nresource: https://forge.example\nroutes:\n  - match: {method: GET, path: \"/repos/{owner}/{repo}\"}\n    scopes: [repo:read]\n"), 0o644)
	out, errOut, code := ajwt(t, "", "policy", "check", good)
	if code != 0 || !strings.Contains(out, "ok, 1 routes") {
		t.Fatalf("good policy: %d %q %q", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("issuer: http://127.0.0.1:8420\nresource: https://forge.example\nroutes:\n  - match: {method: GET, path: \"/x\"}\n    scops: [a]\n"), 0o644)
	_, errOut, code = ajwt(t, "", "policy", "check", bad)
	if code == 0 || !strings.Contains(errOut, "line 5") {
		t.Fatalf("bad policy: %d %q", code, errOut)
	}
}

func TestDemoCommand(t *testing.T) {
	html := filepath.Join(t.TempDir(), "report.html")
	out, errOut, code := ajwt(t, "", "demo", "--json", "--html", html)
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errOut)
	}
	var rep struct {
		Workflow map[string]struct{ Merged bool }
		Attacks  []struct {
			ID     string
			Legacy struct{ Blocked bool }
			AJWT   struct{ Blocked bool } `json:"ajwt"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if len(rep.Attacks) != 25 || !rep.Workflow["legacy"].Merged || !rep.Workflow["ajwt"].Merged {
		t.Fatalf("report %+v", rep)
	}
	for _, a := range rep.Attacks {
		if !a.AJWT.Blocked {
			t.Errorf("%s not blocked by ajwt", a.ID)
		}
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<table>") || !strings.Contains(string(page), "X8") {
		t.Fatalf("HTML report: %v", err)
	}
	if !strings.Contains(errOut, "== ajwt mode") {
		t.Fatalf("no progress on stderr: %q", errOut)
	}
}

// TestBenchSmoke runs `ajwt bench` small: every series completes without
// errors and the ratios are there (no timing is asserted).
func TestBenchSmoke(t *testing.T) {
	for _, bad := range [][]string{{"--ops", "0"}, {"--runs", "0"}, {"--concurrency", "0"}, {"--rounds", "0"}} {
		if _, errOut, code := ajwt(t, "", append([]string{"bench"}, bad...)...); code == 0 || !strings.Contains(errOut, "must be at least 1") {
			t.Errorf("bench %v: exit %d, %q", bad, code, errOut)
		}
	}
	if _, errOut, code := ajwt(t, "", "bench", "--series", "proxy,bogus"); code == 0 || !strings.Contains(errOut, `--series "bogus"`) {
		t.Errorf("bench --series proxy,bogus: exit %d, %q", code, errOut)
	}
	out, errOut, code := ajwt(t, "", "bench", "--ops", "60", "--runs", "4", "--rounds", "2", "--concurrency", "2", "--postgres", "", "--json")
	if code != 0 {
		t.Fatalf("bench: %d %s", code, errOut)
	}
	var rep struct {
		Results []struct {
			Name   string `json:"name"`
			Ops    int    `json:"ops"`
			Errors int    `json:"errors"`
		} `json:"results"`
		Ratios map[string]float64 `json:"ratios"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := 24 // minting, enforcement (Ed25519 floor included), proxy in this process and as its own, MCP, tracing off and on
	want += 2  // whole runs at --concurrency and at 64
	want += 4  // overload: IdP and proxy at saturation and at 10×
	if _, err := exec.LookPath("nginx"); err == nil {
		want += 12 // the gateway series run where nginx is installed
	}
	if len(rep.Results) != want {
		t.Fatalf("%d series, want %d: %+v", len(rep.Results), want, rep.Results)
	}
	for _, r := range rep.Results {
		ops := 60
		if strings.HasPrefix(r.Name, "whole run:") {
			ops = 4
		}
		if r.Ops != ops || r.Errors != 0 {
			t.Errorf("%s: %d ops, %d errors", r.Name, r.Ops, r.Errors)
		}
	}
	for _, k := range []string{"agent_checksum server CPU / baseline, SQLite", "middleware / bare verify (p50)", "proxy p50 overhead (ms), concurrency 1",
		"middleware MCP tools/call / plain HTTP decision (p50)", "MCP proxy p50 overhead (ms), concurrency 1", "MCP proxy / direct throughput, concurrency 2",
		"tracing on / off: agent_checksum grant, server CPU per op", "tracing on / off: proxy throughput",
		"whole run IdP CPU / (IdP requests per run × baseline CPU per token), concurrency 64, SQLite", "whole run IdP requests per run, concurrency 2, SQLite",
		"proxy process throughput (req/s), concurrency 2", "proxy process: throughput ceiling, cores ÷ machine CPU per request (req/s), concurrency 2",
		"proxy process p50 overhead (ms), concurrency 1", "proxy process: p50 overhead floor, Ed25519 verify + one direct exchange (ms)",
		"overload: agent_checksum grant (IdP, SQLite): throughput at 10× / at saturation", "overload: through `ajwt proxy` process: resident set at 10× / at saturation"} {
		if rep.Ratios[k] <= 0 && !strings.Contains(k, "overhead") {
			t.Errorf("ratio %q = %v", k, rep.Ratios[k])
		}
		if _, ok := rep.Ratios[k]; !ok {
			t.Errorf("ratio %q missing", k)
		}
	}
}

func TestParseBenchGroups(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"all", strings.Join(benchGroups, ","), false},
		{"", strings.Join(benchGroups, ","), false},
		{"proxy", "proxy", false},
		{"overload, mint", "mint,overload", false}, // benchGroups' order, spaces allowed
		{"proxy,proxy", "proxy", false},
		{"proxy,bogus", "", true},
		{"PROXY", "", true},
	} {
		got, err := parseGroups(tc.in)
		if (err != nil) != tc.err || (!tc.err && strings.Join(got, ",") != tc.want) {
			t.Errorf("parseGroups(%q) = %v, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
