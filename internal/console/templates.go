package console

import (
	"github.com/ajwt/ajwt/internal/store"
	"html/template"
	"strings"
	"time"
)

var pageNames = []string{"login", "error", "inbox", "runs", "run", "agents", "agent", "audit"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// short abbreviates a hash or a long id for tables; the full value is
	// in the element's title.
	"short": func(s string) string {
		if len(s) <= 19 {
			return s
		}
		return s[:19] + "…"
	},
	"join": strings.Join,
	// decision is what the decide block needs: the waiting run (an inbox
	// item holds one) and the viewer, whose CSRF token the form carries.
	"decision": func(w any, v *viewer) map[string]any {
		if item, ok := w.(inboxItem); ok {
			w = item.Waiting
		}
		return map[string]any{"Waiting": w, "Viewer": v}
	},
	"done": func(steps []store.Step) int {
		n := 0
		for _, s := range steps {
			if s.State == store.StepCompleted {
				n++
			}
		}
		return n
	},
}

// parsePages parses each page with the layout and the shared blocks.
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}
