package demo

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Advisory is an OSV-like vulnerability database (POST /v1/query) over
// advisories shipped as data.
type Advisory struct {
	vulns []vuln
}

type vuln struct {
	ID         string   `json:"id"`
	Aliases    []string `json:"aliases"`
	Package    pkg      `json:"package"`
	Summary    string   `json:"summary"`
	Introduced string   `json:"introduced"`
	Fixed      string   `json:"fixed"`
}

type pkg struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// NewAdvisory loads fixtures/advisories.json.
func NewAdvisory() (*Advisory, error) {
	data, err := fixtures.ReadFile("fixtures/advisories.json")
	if err != nil {
		return nil, err
	}
	var doc struct{ Vulns []vuln }
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &Advisory{vulns: doc.Vulns}, nil
}

// Handler serves POST /v1/query {"package":{"name","ecosystem"},"version"}.
func (a *Advisory) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/query", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Package pkg    `json:"package"`
			Version string `json:"version"`
		}
		if !decode(r, &q) {
			reply(w, http.StatusBadRequest, map[string]string{"error": "bad_json"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"vulns": a.query(q.Package, q.Version)})
	})
	return mux
}

func (a *Advisory) query(p pkg, version string) []vuln {
	out := []vuln{}
	for _, v := range a.vulns {
		if v.Package == p && versionLess(version, v.Fixed) {
			out = append(out, v)
		}
	}
	return out
}

// versionLess compares dotted numeric versions (a leading v is ignored).
func versionLess(a, b string) bool {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := part(pa, i), part(pb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func part(p []string, i int) int {
	if i >= len(p) {
		return 0
	}
	n, _ := strconv.Atoi(p[i])
	return n
}
