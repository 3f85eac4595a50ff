package demo

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the report.
type Row struct {
	ID     string `json:"id"`
	Threat string `json:"threat"`
	STRIDE string `json:"stride"`
	Legacy Result `json:"legacy"`
	AJWT   Result `json:"ajwt"`
}

// Report is the whole demonstration's result.
type Report struct {
	Workflow map[string]WorkflowResult `json:"workflow"`
	Rows     []Row                     `json:"attacks"`
	Seconds  float64                   `json:"seconds"`
}

// WorkflowResult is the legitimate run in one mode.
type WorkflowResult struct {
	Merged   bool   `json:"merged"`
	Upgrades int    `json:"upgrades"`
	Error    string `json:"error,omitempty"`
}

// OK reports whether ajwt blocked every attack and the legitimate workflow
// succeeded in both modes.
func (r *Report) OK() bool {
	for _, w := range r.Workflow {
		if !w.Merged || w.Error != "" {
			return false
		}
	}
	for _, row := range r.Rows {
		if !row.AJWT.Blocked {
			return false
		}
	}
	return true
}

// Run executes the legitimate workflow and every scenario in both modes,
// each mode in its own environment under dir.
func Run(ctx context.Context, dir string, say Progress) (*Report, error) {
	rep, kept, err := run(ctx, dir, say, Setup{}, false)
	if kept != nil {
		kept.Close()
	}
	return rep, err
}

// RunKeep is Run in worlds made with setup that leaves the ajwt world
// running, its IdP and console included, and returns it; the caller
// closes it.
func RunKeep(ctx context.Context, dir string, say Progress, setup Setup) (*Report, *Env, error) {
	return run(ctx, dir, say, setup, true)
}

func run(ctx context.Context, dir string, say Progress, setup Setup, keep bool) (*Report, *Env, error) {
	start := time.Now()
	rep := &Report{Workflow: map[string]WorkflowResult{}}
	results := map[string][]Result{}
	var kept *Env
	for _, mode := range []string{Legacy, AJWT} {
		res, wf, e, err := runMode(ctx, mode, dir+"/"+mode, say, setup, keep && mode == AJWT)
		if keep && mode == AJWT {
			kept = e
		} else if e != nil {
			e.Close()
		}
		if err != nil {
			return nil, kept, err
		}
		results[mode], rep.Workflow[mode] = res, wf
	}
	for i, sc := range Scenarios() {
		rep.Rows = append(rep.Rows, Row{ID: sc.ID, Threat: sc.Name, STRIDE: sc.STRIDE, Legacy: results[Legacy][i], AJWT: results[AJWT][i]})
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, kept, nil
}

// runMode returns the world it ran in, which the caller closes. With
// waiting, it also leaves a run at its approval step before the attacks
// (one of which revokes the patcher, whose workflow then takes no new run).
func runMode(ctx context.Context, mode, dir string, say Progress, setup Setup, waiting bool) ([]Result, WorkflowResult, *Env, error) {
	say("== %s mode", mode)
	e, err := StartWith(ctx, mode, dir, setup)
	if err != nil {
		return nil, WorkflowResult{}, nil, err
	}
	var wf WorkflowResult
	out, err := e.RunWorkflow(ctx, func(f string, a ...any) { say("   "+f, a...) })
	if err != nil {
		wf.Error = err.Error()
	} else {
		wf.Merged, wf.Upgrades = out.Merged, len(out.Upgrades)
	}
	if waiting {
		if e.WaitingRun, err = e.StartWaitingRun(ctx, "user:carol", func(f string, a ...any) { say("   "+f, a...) }); err != nil {
			return nil, wf, e, err
		}
	}
	var results []Result
	scenarios := Scenarios()
	say("   %d attacks", len(scenarios))
	for _, sc := range scenarios {
		fn := sc.AJWT
		if mode == Legacy {
			fn = sc.Legacy
		}
		results = append(results, fn(ctx, e))
	}
	return results, wf, e, nil
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTHREAT\tSTRIDE\tLEGACY OAUTH\tAJWT\tSTOPPED BY\tERROR / REASON")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.ID, row.Threat, row.STRIDE,
			attackOutcome(row.Legacy), attackOutcome(row.AJWT), row.AJWT.Check, row.AJWT.Reason)
	}
	tw.Flush()
	blocked := 0
	for _, row := range r.Rows {
		if row.AJWT.Blocked {
			blocked++
		}
	}
	legacyOK := 0
	for _, row := range r.Rows {
		if !row.Legacy.Blocked {
			legacyOK++
		}
	}
	fmt.Fprint(w, legend)
	r.writeEvidence(w)
	fmt.Fprintf(w, "\nLegitimate workflow: legacy %s, ajwt %s.\n", r.Workflow[Legacy].summary(), r.Workflow[AJWT].summary())
	fmt.Fprintf(w, "Attacks: %d of %d succeed without ajwt; ajwt blocks %d of %d. (%.1f s)\n", legacyOK, len(r.Rows), blocked, len(r.Rows), r.Seconds)
}

const legend = `
STRIDE: S spoofing (acting as someone else), T tampering (changing code, prompts, workflows or
requests), R repudiation (denying or forging who asked), I information disclosure, E elevation
of privilege. ERROR / REASON is what the attacker was answered: the OAuth error code and the
protocol's stable reason (docs/PROTOCOL.md §8), e.g. context_mismatch = the request is outside
the run's execution context, wrong_htm = the DPoP proof was made for another method,
legacy_token_refused = a plain bearer token where an agent's intent token is required.
`

// writeEvidence says what each attack did and what happened, in both modes.
func (r *Report) writeEvidence(w io.Writer) {
	fmt.Fprintln(w, "\nEVIDENCE")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "%-4s legacy: %s\n     ajwt:   %s\n", row.ID, evidence(row.Legacy), evidence(row.AJWT))
	}
}

func evidence(r Result) string {
	if r.Evidence == "" {
		return attackOutcome(r)
	}
	return r.Evidence
}

func attackOutcome(r Result) string {
	if r.Blocked {
		return "blocked"
	}
	return "ATTACK SUCCEEDS"
}

func (w WorkflowResult) summary() string {
	if w.Error != "" {
		return "FAILED: " + w.Error
	}
	return fmt.Sprintf("PR merged with %d upgrades", w.Upgrades)
}

// WriteHTML writes a self-contained page.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, r)
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"outcome": attackOutcome, "lower": strings.ToLower,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ajwt demo: legacy OAuth vs Agentic JWT</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1d2329}
h1{font-size:1.6rem} table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #dde;padding:.45rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f6f8} .ok{color:#0a7a3d;font-weight:600} .bad{color:#b3261e;font-weight:700} .small{color:#555;font-size:.85rem;font-weight:400}
.card{display:inline-block;border:1px solid #dde;border-radius:8px;padding:.6rem 1rem;margin:0 1rem 1rem 0}
</style></head><body>
<h1>Vulnerability-patching agents under attack: legacy OAuth vs ajwt</h1>
<p>Four agents (supervisor, classifier, planner, patcher) patch <code>acme/web</code>: classify → plan → assess → approve (a human approver) → patch (delegated by the supervisor) → verify.
Every attack was run against both setups. <b>Legacy</b>: one client_credentials token for the app; the APIs check only signature and scope. <b>ajwt</b>: intent tokens per agent, run and step, bound to the agent's key, enforced by the ajwt proxy.</p>
{{range $mode, $w := .Workflow}}<div class="card"><b>{{$mode}}</b> legitimate workflow: {{if $w.Merged}}<span class="ok">pull request merged ({{$w.Upgrades}} upgrades)</span>{{else}}<span class="bad">failed {{$w.Error}}</span>{{end}}</div>{{end}}
<table><tr><th>ID</th><th>Threat</th><th>STRIDE</th><th>Legacy OAuth</th><th>ajwt</th><th>Stopped by</th><th>Error / reason</th></tr>
{{range .Rows}}<tr><td>{{.ID}}</td><td>{{.Threat}}<div class="small">{{.AJWT.Evidence}}</div></td><td>{{.STRIDE}}</td>
<td class="{{if .Legacy.Blocked}}ok{{else}}bad{{end}}">{{outcome .Legacy}}<div class="small">{{.Legacy.Evidence}}</div></td>
<td class="{{if .AJWT.Blocked}}ok{{else}}bad{{end}}">{{outcome .AJWT}}</td><td>{{.AJWT.Check}}</td><td><code>{{.AJWT.Reason}}</code></td></tr>
{{end}}</table><p class="small">Generated by <code>ajwt demo</code> in {{printf "%.1f" .Seconds}} s.</p></body></html>
`))
