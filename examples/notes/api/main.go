// Command api is the notes API of the notes example (docs/GUIDE.md): an
// ordinary REST API that knows nothing of tokens. `ajwt proxy` in front of
// it decides who may call what; the API only reads who the proxy says
// called (Ajwt-Agent, Ajwt-Initiated-By, …) and records it.
//
//	go run ./examples/notes/api --addr 127.0.0.1:9100
//
// It trusts those headers because nothing but the proxy can reach it: keep
// it on a loopback or private address. The proxy deletes any Ajwt-* header
// a client sends and sets its own.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "listen address (keep it private: only the proxy may reach it)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notes api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, out io.Writer) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "notes API listening on http://%s\n", ln.Addr())
	hs := &http.Server{Handler: newAPI(out).routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Note is one note and who wrote it, as the proxy told us.
type Note struct {
	ID         int    `json:"id"`
	Text       string `json:"text"`
	CreatedBy  string `json:"created_by"`   // the agent (Ajwt-Agent)
	OnBehalfOf string `json:"on_behalf_of"` // the person who started the run (Ajwt-Initiated-By)
}

type api struct {
	log io.Writer

	mu     sync.Mutex
	notes  map[int]Note
	nextID int
}

func newAPI(log io.Writer) *api {
	a := &api{log: log, notes: map[int]Note{}, nextID: 1}
	for _, text := range []string{"Buy milk", "Team meeting moved to Thursday", "Call the plumber"} {
		a.add(Note{Text: text, CreatedBy: "seed"})
	}
	return a
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /notes", a.list)
	mux.HandleFunc("GET /notes/{id}", a.get)
	mux.HandleFunc("POST /notes", a.create)
	mux.HandleFunc("DELETE /notes/{id}", a.delete)
	return a.logged(mux)
}

// caller is who the proxy says made the request (PROTOCOL.md §8, Headers).
type caller struct{ agent, initiatedBy, run, step, client string }

func callerOf(r *http.Request) caller {
	return caller{agent: r.Header.Get("Ajwt-Agent"), initiatedBy: r.Header.Get("Ajwt-Initiated-By"),
		run: r.Header.Get("Ajwt-Run"), step: r.Header.Get("Ajwt-Step"), client: r.Header.Get("Ajwt-Client")}
}

// logged prints one line per request: what was done, and for whom. The
// line is written when the status is set, before the answer leaves, so a
// caller that got its answer finds the line already printed.
func (a *api) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&loggingWriter{ResponseWriter: w, log: a.log, r: r}, r)
	})
}

type loggingWriter struct {
	http.ResponseWriter
	log    io.Writer
	r      *http.Request
	logged bool
}

func (w *loggingWriter) WriteHeader(status int) {
	if !w.logged {
		w.logged = true
		c := callerOf(w.r)
		fmt.Fprintf(w.log, "%s %s -> %d  agent=%s initiated_by=%s client=%s step=%s run=%s\n",
			w.r.Method, w.r.URL.Path, status, c.agent, c.initiatedBy, c.client, c.step, c.run)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggingWriter) Write(b []byte) (int, error) {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (a *api) add(n Note) Note {
	n.ID = a.nextID
	a.nextID++
	a.notes[n.ID] = n
	return n
}

func (a *api) list(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	notes := make([]Note, 0, len(a.notes))
	for _, n := range a.notes {
		notes = append(notes, n)
	}
	a.mu.Unlock()
	slices.SortFunc(notes, func(x, y Note) int { return cmp.Compare(x.ID, y.ID) })
	writeJSON(w, http.StatusOK, notes)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	a.mu.Lock()
	n, ok := a.notes[id]
	a.mu.Unlock()
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such note"})
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.Text == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"text": "…"}`})
		return
	}
	c := callerOf(r)
	a.mu.Lock()
	n := a.add(Note{Text: body.Text, CreatedBy: c.agent, OnBehalfOf: c.initiatedBy})
	a.mu.Unlock()
	writeJSON(w, http.StatusCreated, n)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	a.mu.Lock()
	_, ok := a.notes[id]
	delete(a.notes, id)
	a.mu.Unlock()
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such note"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
