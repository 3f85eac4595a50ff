package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/internal/yamlerr"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Config is the server configuration file (PROTOCOL.md §11).
type Config struct {
	Issuer     string         `yaml:"issuer"`
	SigningAlg string         `yaml:"signing_alg"`
	TokenTTL   time.Duration  `yaml:"token_ttl"`
	Clients    []ClientConfig `yaml:"clients"`
	Agents     []AgentConfig  `yaml:"agents"`
	Workflows  []WorkflowDecl `yaml:"workflows"`
	// Operators are the people who use the console (/console).
	Operators []OperatorConfig `yaml:"operators"`
	Console   ConsoleConfig    `yaml:"console"`

	// Optional tuning; zero values take the §10 defaults.
	DPoPIATWindow  time.Duration `yaml:"dpop_iat_window"`
	RequireNonce   bool          `yaml:"dpop_require_nonce"`
	FailureLimit   int           `yaml:"failed_grants_per_minute"`
	RequestLimit   int           `yaml:"token_requests_per_second"` // per client, all /token requests
	RunsPerMinute  int           `yaml:"runs_per_minute"`           // per client, runs created
	KeyRefresh     time.Duration `yaml:"key_refresh"`
	FeedPoll       time.Duration `yaml:"feed_poll"`
	MaxDelegations int           `yaml:"max_delegation_depth"`
	// AuditCheckpointInterval: how often a signed checkpoint is written
	// into the audit chain (when entries were added since the last).
	AuditCheckpointInterval time.Duration `yaml:"audit_checkpoint_interval"`

	// Long polls of the revocation feed parked at once, in all and per
	// source address; beyond them a long poll is answered at once.
	FeedMaxWaiters        int `yaml:"feed_max_waiters"`
	FeedMaxWaitersPerAddr int `yaml:"feed_max_waiters_per_address"`

	dir string // directory of the file, for relative spec_file paths
}

// ClientConfig declares an OAuth client. Exactly one of ClientSecret,
// ClientSecretHash or JWKS is required.
type ClientConfig struct {
	ClientID         string          `yaml:"client_id"`
	ClientSecret     string          `yaml:"client_secret"`
	ClientSecretHash string          `yaml:"client_secret_hash"`
	Scopes           []string        `yaml:"scopes"`
	Audiences        []string        `yaml:"audiences"`
	JWKS             yaml.Node       `yaml:"jwks"`
	ApprovesFor      []string        `yaml:"approves_for"` // clients whose runs it may approve (§5); absent: none
	jwksJSON         json.RawMessage // JWKS converted to JSON at load
}

// AgentConfig is the §4.1 body plus agent_id; the spec comes inline or from
// spec_file (relative to the configuration file), and the public key inline
// or from public_jwk_file.
type AgentConfig struct {
	AgentID          string    `yaml:"agent_id"`
	ClientID         string    `yaml:"client_id"`
	Spec             yaml.Node `yaml:"spec"`
	SpecFile         string    `yaml:"spec_file"`
	PublicJWK        yaml.Node `yaml:"public_jwk"`
	PublicJWKFile    string    `yaml:"public_jwk_file"`
	Scopes           []string  `yaml:"scopes"`
	Audiences        []string  `yaml:"audiences"`
	MayDelegateTo    []string  `yaml:"may_delegate_to"`
	WorkflowRequired *bool     `yaml:"workflow_required"`
	// KeySource is "derived" (the default: the shim derives the key from
	// the spec, §3) or "external" (a key held elsewhere, which a spec
	// change does not change).
	KeySource string `yaml:"key_source"`
}

// WorkflowDecl is the §4.2 body plus workflow_id.
type WorkflowDecl struct {
	WorkflowID         string    `yaml:"workflow_id"`
	Steps              []StepDef `yaml:"steps"`
	MaxDelegationDepth *int      `yaml:"max_delegation_depth"` // absent: the server's limit; 0: none
}

// LoadConfig reads and checks a configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	return cfg, nil
}

// ParseConfig parses configuration YAML strictly (unknown keys are errors)
// and fills in defaults.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > protocol.MaxRegistrationBody {
		return nil, errors.New("config: file larger than 1 MiB")
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var root yaml.Node
		_ = yaml.Unmarshal(data, &root) // for the key names of type errors
		return nil, fmt.Errorf("config: %s", yamlerr.Describe(err, &root))
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &cfg, cfg.check()
}

func (c *Config) defaults() error {
	if c.SigningAlg == "" {
		c.SigningAlg = string(keys.ES256)
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = protocol.DefaultTokenTTL
	}
	if c.DPoPIATWindow == 0 {
		c.DPoPIATWindow = protocol.DefaultIATSkew
	}
	if c.FailureLimit == 0 {
		c.FailureLimit = 60
	}
	if c.RequestLimit == 0 {
		c.RequestLimit = 1000
	}
	if c.RunsPerMinute == 0 {
		c.RunsPerMinute = defaultRunsPerMinute
	}
	if c.KeyRefresh == 0 {
		c.KeyRefresh = 30 * time.Second
	}
	if c.FeedPoll == 0 {
		c.FeedPoll = 200 * time.Millisecond
	}
	if c.FeedMaxWaiters == 0 {
		c.FeedMaxWaiters = DefaultFeedMaxWaiters
	}
	if c.FeedMaxWaitersPerAddr == 0 {
		c.FeedMaxWaitersPerAddr = DefaultFeedMaxWaitersPerAddr
	}
	if c.MaxDelegations == 0 {
		c.MaxDelegations = protocol.MaxDelegationDepth
	}
	if c.AuditCheckpointInterval == 0 {
		c.AuditCheckpointInterval = DefaultCheckpointInterval
	}
	c.consoleDefaults()
	return nil
}

func (c *Config) check() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: issuer: want an http(s) URL without query, got %q", c.Issuer)
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if _, err := keys.ParseAlg(c.SigningAlg); err != nil {
		return fmt.Errorf("config: signing_alg: %w", err)
	}
	switch {
	case c.TokenTTL < 10*time.Second || c.TokenTTL > time.Hour:
		return fmt.Errorf("config: token_ttl %s: want 10s to 1h", c.TokenTTL)
	case c.DPoPIATWindow < time.Second || c.DPoPIATWindow > 5*time.Minute:
		return fmt.Errorf("config: dpop_iat_window %s: want 1s to 5m", c.DPoPIATWindow)
	case c.FeedMaxWaiters < 0 || c.FeedMaxWaitersPerAddr < 0:
		return fmt.Errorf("config: feed_max_waiters and feed_max_waiters_per_address: want 1 or more")
	case c.RunsPerMinute < 0 || c.FailureLimit < 0 || c.RequestLimit < 0:
		return fmt.Errorf("config: runs_per_minute, failed_grants_per_minute and token_requests_per_second: want positive numbers")
	case c.KeyRefresh < 0 || c.FeedPoll < 0:
		return fmt.Errorf("config: key_refresh and feed_poll: want positive durations")
	case c.AuditCheckpointInterval < time.Minute || c.AuditCheckpointInterval > 24*time.Hour:
		return fmt.Errorf("config: audit_checkpoint_interval %s: want 1m to 24h", c.AuditCheckpointInterval)
	case c.MaxDelegations < 0 || c.MaxDelegations > protocol.MaxDelegationDepth:
		return fmt.Errorf("config: max_delegation_depth %d: want 0 to %d", c.MaxDelegations, protocol.MaxDelegationDepth)
	}
	if err := c.checkAgents(); err != nil {
		return err
	}
	if err := c.checkClients(); err != nil {
		return err
	}
	clients := map[string]bool{}
	for _, cl := range c.Clients {
		clients[cl.ClientID] = true
	}
	return c.checkOperators(clients)
}

const (
	keySourceDerived  = "derived"
	keySourceExternal = "external"
)

func (c *Config) checkAgents() error {
	for i, a := range c.Agents {
		if a.KeySource != "" && a.KeySource != keySourceDerived && a.KeySource != keySourceExternal {
			return fmt.Errorf("config: agents[%d] (%s).key_source: want derived or external, got %q", i, a.AgentID, a.KeySource)
		}
	}
	return nil
}

func (c *Config) checkClients() error {
	seen := map[string]bool{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if !validID(cl.ClientID) {
			return fmt.Errorf("config: clients[%d].client_id %q: want %s", i, cl.ClientID, idPattern)
		}
		if seen[cl.ClientID] {
			return fmt.Errorf("config: clients[%d]: duplicate client_id %q", i, cl.ClientID)
		}
		seen[cl.ClientID] = true
		if err := cl.checkCredentials(); err != nil {
			return fmt.Errorf("config: clients[%d] (%s): %w", i, cl.ClientID, err)
		}
		for _, a := range cl.Audiences {
			if !validResource(a) {
				return fmt.Errorf("config: clients[%d].audiences: %q is not an absolute URI", i, a)
			}
		}
	}
	return c.checkApprovesFor(seen)
}

// checkApprovesFor refuses approves_for entries naming no configured
// client: a typo would otherwise silently leave runs unapprovable, or bind
// an approver to a client configured later by mistake.
func (c *Config) checkApprovesFor(known map[string]bool) error {
	for i, cl := range c.Clients {
		for _, id := range cl.ApprovesFor {
			if !known[id] {
				return fmt.Errorf("config: clients[%d] (%s).approves_for: unknown client %q", i, cl.ClientID, id)
			}
		}
	}
	return nil
}

func (cl *ClientConfig) checkCredentials() error {
	n := 0
	for _, set := range []bool{cl.ClientSecret != "", cl.ClientSecretHash != "", cl.JWKS.Kind != 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("want exactly one of client_secret, client_secret_hash, jwks")
	}
	if cl.ClientSecretHash != "" {
		if _, err := parseSecretHash(cl.ClientSecretHash); err != nil {
			return err
		}
	}
	if cl.JWKS.Kind != 0 {
		js, err := yamlNodeToJSON(&cl.JWKS)
		if err != nil {
			return fmt.Errorf("jwks: %w", err)
		}
		if _, err := parseClientJWKS(js); err != nil {
			return err
		}
		cl.jwksJSON = js
	}
	return nil
}

// yamlNodeToJSON converts a YAML subtree (e.g. an inline JWK) to JSON.
func yamlNodeToJSON(n *yaml.Node) (json.RawMessage, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// resolve makes a path from the configuration file relative to its folder.
func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}
