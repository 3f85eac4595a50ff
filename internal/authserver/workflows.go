package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

func (s *Server) handlePutWorkflow(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:admin")
	if err != nil {
		return err
	}
	var def WorkflowDef
	if err := decodeJSON(w, r, protocol.MaxRegistrationBody, &def); err != nil {
		return err
	}
	version, created, err := s.registerWorkflow(r.Context(), r.PathValue("workflow_id"), &def, caller.ClientID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"workflow_id": r.PathValue("workflow_id"), "version": version})
	return nil
}

// registerWorkflow stores a new version when the definition changed; runs
// keep the version they started with.
func (s *Server) registerWorkflow(ctx context.Context, id string, def *WorkflowDef, by string) (int, bool, error) {
	if !validID(id) {
		return 0, false, errWorkflow("workflow_id must match %s", idPattern)
	}
	if err := def.validate(); err != nil {
		return 0, false, err
	}
	raw, err := json.Marshal(def)
	if err != nil {
		return 0, false, err
	}
	version, created := 0, false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		lookup := func(a string) (*store.Agent, error) { return tx.Agent(ctx, a) }
		if err := def.checkAgents(lookup); err != nil {
			return err
		}
		old, err := tx.Workflow(ctx, id, 0)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		created = old == nil
		if old != nil && bytes.Equal(old.Definition, raw) {
			version = old.Version
			return nil
		}
		version = 1
		if old != nil {
			version = old.Version + 1
		}
		if err := tx.PutWorkflow(ctx, &store.Workflow{WorkflowID: id, Version: version, Definition: raw, CreatedAt: s.now()}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "register_workflow", ClientID: by, Outcome: "ok", Detail: "workflow=" + id + " version=" + itoa(version)})
	})
	return version, created, err
}

// handleGetWorkflow answers admins and the clients whose agents the
// workflow uses; to anyone else the workflow does not exist (404), so that
// one tenant learns nothing of another's workflows.
func (s *Server) handleGetWorkflow(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, err := s.apiCaller(ctx, r, "ajwt:admin", "ajwt:run", "ajwt:approve")
	if err != nil {
		return err
	}
	var wf *store.Workflow
	err = s.store.View(ctx, func(tx store.Tx) (err error) {
		if wf, err = tx.Workflow(ctx, r.PathValue("workflow_id"), 0); err != nil {
			return err
		}
		if caller.HasScope("ajwt:admin") {
			return nil
		}
		return s.checkWorkflowReader(ctx, tx, wf, caller.ClientID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such workflow")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflow_id": wf.WorkflowID, "version": wf.Version, "definition": wf.Definition})
	return nil
}

// checkWorkflowReader: a client may read a workflow that uses one of its
// agents; otherwise store.ErrNotFound.
func (s *Server) checkWorkflowReader(ctx context.Context, tx store.Tx, wf *store.Workflow, clientID string) error {
	def, err := s.workflowDef(ctx, tx, wf.WorkflowID, wf.Version)
	if err != nil {
		return err
	}
	for _, st := range def.Steps {
		if st.Kind != kindAgent {
			continue
		}
		a, err := tx.Agent(ctx, st.Agent)
		if err == nil && a.ClientID == clientID {
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return store.ErrNotFound
}
