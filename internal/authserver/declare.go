package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/specfile"
)

// applyDeclarations registers the agents and workflows of the configuration
// file (GitOps registration), exactly as the admin API would.
func (s *Server) applyDeclarations(ctx context.Context) error {
	for i, ac := range s.cfg.Agents {
		body, err := s.declaredAgentBody(&ac)
		if err != nil {
			return fmt.Errorf("config: agents[%d] (%s): %w", i, ac.AgentID, err)
		}
		if err := s.checkKeyFollowsSpec(ctx, &ac, body); err != nil {
			return fmt.Errorf("config: agents[%d] (%s): %w", i, ac.AgentID, err)
		}
		if _, _, err := s.registerAgent(ctx, ac.AgentID, body, "config"); err != nil {
			return fmt.Errorf("config: agents[%d] (%s): %w", i, ac.AgentID, err)
		}
	}
	for i, wd := range s.cfg.Workflows {
		def := WorkflowDef{Steps: wd.Steps, MaxDelegationDepth: wd.MaxDelegationDepth}
		if _, _, err := s.registerWorkflow(ctx, wd.WorkflowID, &def, "config"); err != nil {
			return fmt.Errorf("config: workflows[%d] (%s): %w", i, wd.WorkflowID, err)
		}
	}
	return nil
}

func (s *Server) declaredAgentBody(ac *AgentConfig) (*agentBody, error) {
	spec, err := s.declaredSpec(ac)
	if err != nil {
		return nil, err
	}
	jwk, err := s.declaredJWK(ac)
	if err != nil {
		return nil, err
	}
	return &agentBody{ClientID: ac.ClientID, Spec: spec, PublicJWK: jwk, Scopes: ac.Scopes, Audiences: ac.Audiences,
		MayDelegateTo: ac.MayDelegateTo, WorkflowRequired: ac.WorkflowRequired}, nil
}

// declaredSpec reads spec or spec_file with the strict spec parser and
// returns the spec as JSON for the registration path.
func (s *Server) declaredSpec(ac *AgentConfig) (json.RawMessage, error) {
	switch {
	case (ac.Spec.Kind == 0) == (ac.SpecFile == ""):
		return nil, fmt.Errorf("want exactly one of spec, spec_file")
	case ac.SpecFile != "":
		spec, err := specfile.Load(s.cfg.resolve(ac.SpecFile))
		if err != nil {
			return nil, err
		}
		return json.Marshal(spec)
	}
	text, err := yaml.Marshal(&ac.Spec)
	if err != nil {
		return nil, err
	}
	spec, err := specfile.Parse("spec.yaml", text)
	if err != nil {
		return nil, err
	}
	return json.Marshal(spec)
}

func (s *Server) declaredJWK(ac *AgentConfig) (json.RawMessage, error) {
	switch {
	case (ac.PublicJWK.Kind == 0) == (ac.PublicJWKFile == ""):
		return nil, fmt.Errorf("want exactly one of public_jwk, public_jwk_file")
	case ac.PublicJWKFile != "":
		return os.ReadFile(s.cfg.resolve(ac.PublicJWKFile))
	}
	return yamlNodeToJSON(&ac.PublicJWK)
}

// checkKeyFollowsSpec catches a spec edited in the configuration while
// its public_jwk stayed: the key a shim derives depends on the spec's
// checksum (§3), so that agent's shim now signs with a key this
// registration does not hold, and every grant would fail with a key
// mismatch far from the cause. An agent whose key is held elsewhere (a
// KMS, a file) keeps its key across spec changes and says so with
// key_source: external.
func (s *Server) checkKeyFollowsSpec(ctx context.Context, ac *AgentConfig, body *agentBody) error {
	if ac.KeySource == keySourceExternal {
		return nil
	}
	next, err := s.buildAgent(ac.AgentID, body)
	if err != nil {
		return nil // registerAgent reports it
	}
	var old *store.Agent
	err = s.store.View(ctx, func(tx store.Tx) (err error) {
		old, err = tx.Agent(ctx, ac.AgentID)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case old.Checksum != next.Checksum && old.JKT == next.JKT:
		return fmt.Errorf("the spec changed (%s, was %s) but public_jwk did not: a derived key follows the spec's checksum, "+
			"so run `ajwt keys derive --secret-file <shim master secret> --agent <spec file>` and put the new public_jwk here "+
			"(or set key_source: external for a key held outside the shim)", next.Checksum, old.Checksum)
	}
	return nil
}
