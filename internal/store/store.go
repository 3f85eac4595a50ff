// Package store defines what the authorization server persists and the
// transaction boundary it relies on. Implementations: sqlstore (SQLite, the
// embedded default, and PostgreSQL for multi-node). storetest holds the one
// conformance suite every implementation must pass.
//
// The store is deliberately thin: it reads and writes records; every protocol
// rule (who may complete a step, what a grant needs) lives in the server,
// which runs it inside Update so that check and write are one atomic step.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped or not) for errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
)

// Store is a transactional record store.
type Store interface {
	// Update runs fn in a read-write transaction and commits when fn returns
	// nil. Implementations serialise transactions that lock the same run
	// (Tx.RunForUpdate) and may retry fn on a serialisation failure, so fn
	// must not have side effects outside tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// FlushAudit chains every audit entry committed before the call, so
	// that a following Audit or AuditHead sees it.
	FlushAudit(ctx context.Context) error
	Close() error
}

// Tx is one transaction. Write methods called from View return an error.
type Tx interface {
	Agent(ctx context.Context, agentID string) (*Agent, error)
	// AgentForShare reads an agent in Update and keeps it from changing
	// until the transaction ends: a concurrent PutAgent of it waits, so
	// that a check made on the record still holds when the transaction
	// commits, and the writer, once through, sees what this one wrote.
	// Never served from a cache. Refused in View.
	AgentForShare(ctx context.Context, agentID string) (*Agent, error)
	// AgentForUpdate reads an agent in Update for a read-modify-write of
	// it (re-registration, revocation): a concurrent AgentForUpdate or
	// AgentForShare of it waits until this transaction ends, so neither
	// write is lost. Never served from a cache. Refused in View.
	AgentForUpdate(ctx context.Context, agentID string) (*Agent, error)
	PutAgent(ctx context.Context, a *Agent) error // insert or replace by AgentID
	// Agents lists every agent by id, at most limit (never from a cache).
	Agents(ctx context.Context, limit int) ([]*Agent, error)

	Workflow(ctx context.Context, workflowID string, version int) (*Workflow, error) // version 0: latest
	PutWorkflow(ctx context.Context, w *Workflow) error                              // insert; (ID, Version) unique → ErrConflict

	CreateRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, runID string) (*Run, error)
	// RunForUpdate reads a run and locks it until the transaction ends.
	RunForUpdate(ctx context.Context, runID string) (*Run, error)
	// SaveRun writes back the status and step states of a run read in this
	// transaction.
	SaveRun(ctx context.Context, r *Run) error
	// Runs lists runs matching every non-empty field of f, newest first
	// (CreatedAt, then RunID, descending), at most f.Limit.
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)

	PutToken(ctx context.Context, t *Token) error
	Token(ctx context.Context, jti string) (*Token, error)
	// TokenForShare and TokenForUpdate read a token in Update and lock it
	// until the transaction ends: a grant that hangs a delegated or
	// exchanged token off a parent holds the parent shared, a revocation
	// holds it exclusively, so the revocation's cascade, once through,
	// sees the child (or the grant sees the parent revoked). Refused in
	// View.
	TokenForShare(ctx context.Context, jti string) (*Token, error)
	TokenForUpdate(ctx context.Context, jti string) (*Token, error)
	// TokenStanding reads, in one statement (one snapshot), the token
	// record jti and the state of what it depends on: its client, agent,
	// delegation chain and run. Every token-authenticated request asks
	// it, so that deciding whether a token still stands costs one read.
	// Never served from a cache. ErrNotFound: no record of jti.
	TokenStanding(ctx context.Context, jti string) (*TokenStanding, error)
	// Tokens lists token records matching every non-empty field of f.
	Tokens(ctx context.Context, f TokenFilter) ([]*Token, error)
	RevokeTokens(ctx context.Context, jtis []string, at time.Time) error

	// UseOnce records a single-use identifier (delegation assertion jti)
	// until exp; it reports false if the identifier was already used.
	UseOnce(ctx context.Context, id string, exp time.Time) (bool, error)

	AddRevocation(ctx context.Context, r *Revocation) error // assigns r.Seq
	// Revocations lists entries with Seq > after and Expires > now, oldest
	// first, at most limit. It starts at the first entry not expired at
	// now, whatever after is: expired entries waiting for PurgeExpired
	// cost a read nothing.
	Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]*Revocation, error)
	// RevocationHead returns the newest entry's Seq (0 for none), at the
	// cost of one index lookup: what a feed poller asks every interval.
	RevocationHead(ctx context.Context) (int64, error)

	// PurgeExpired deletes at most limit rows of each kind that expired at
	// or before before: revocation entries, single-use identifiers, and
	// token records of no run or of a run no longer active (a grant in an
	// active run may still read its delegator's earlier tokens). It
	// returns how many rows it deleted; callers repeat it, each time in a
	// transaction of its own, until it deletes none.
	PurgeExpired(ctx context.Context, before time.Time, limit int) (int, error)

	// AppendAudit records e with the transaction. It joins the chain
	// (Seq, Prev and Hash assigned with HashAudit, after the current last
	// entry) either at once, when the store serialises writers anyway
	// (SQLite: e's fields are set on return), or after commit, when
	// writers run in parallel (PostgreSQL: e.Seq stays 0; the entry waits
	// in a durable outbox and Store.FlushAudit or the store's own chainer,
	// within milliseconds, chains it).
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// Audit lists the chained entries matching f, at most f.Limit: oldest
	// first after f.After, or, with f.Newest, newest first before f.Before
	// (0: from the head).
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// AuditHead returns the last entry's Seq and Hash as recorded separately
	// by AppendAudit (0 and AuditGenesis for an empty log), so that removing
	// entries from the end of the log is detected too.
	AuditHead(ctx context.Context) (int64, string, error)

	SigningKeys(ctx context.Context) ([]*SigningKey, error) // oldest first
	PutSigningKey(ctx context.Context, k *SigningKey) error // insert or replace by KeyID

	// Client reads a client the server has served; ClientForUpdate reads
	// it in Update and locks it until the transaction ends, for a
	// read-modify-write that a concurrent one (another node starting, a
	// revocation) waits for. Refused in View. Clients lists them all by id.
	Client(ctx context.Context, clientID string) (*Client, error)
	ClientForUpdate(ctx context.Context, clientID string) (*Client, error)
	Clients(ctx context.Context) ([]*Client, error)
	PutClient(ctx context.Context, c *Client) error // insert or replace by ClientID

	// SharedSecret returns the secret stored under name, storing fresh
	// there first when there is none: every node of a deployment calling
	// it with a random value of its own gets the one stored first, and
	// keeps getting it after restarts. Refused in View.
	SharedSecret(ctx context.Context, name string, fresh []byte) ([]byte, error)
}

// Agent is one registration; Version grows when the spec or key changes.
type Agent struct {
	AgentID          string
	ClientID         string
	RegistrationID   string
	Version          int
	Checksum         string          // "sha256:<hex>"
	JKT              string          // RFC 7638 thumbprint of PublicJWK
	PublicJWK        json.RawMessage // public key only
	Spec             json.RawMessage // the §2.1 object as registered (confidential)
	Scopes           []string
	Audiences        []string
	MayDelegateTo    []string
	WorkflowRequired bool
	Revoked          bool
	RevokedAt        time.Time
	UpdatedAt        time.Time
}

// Workflow is one version of a workflow definition.
type Workflow struct {
	WorkflowID string
	Version    int
	Definition json.RawMessage // the §4.2 body
	CreatedAt  time.Time
}

// Run statuses and step states of PROTOCOL.md §5.
const (
	RunActive    = "active"
	RunCompleted = "completed"
	RunRevoked   = "revoked"

	StepPending    = "pending"
	StepReady      = "ready"
	StepInProgress = "in_progress"
	StepCompleted  = "completed"
)

// Run is one execution of a workflow version with its server-side state.
type Run struct {
	RunID            string
	ClientID         string
	WorkflowID       string
	WorkflowVersion  int
	Status           string
	InitiatedBy      string
	ExecutionContext map[string]string
	CreatedAt        time.Time
	Steps            []Step // in workflow order
}

// Step is the state of one workflow step inside a run.
type Step struct {
	ID          string
	State       string
	Holder      string   // agent holding the step while in_progress
	Chain       []string // delegation chain of the holder's tokens
	Parent      string   // the token the holder's delegation hangs off (revocation cascade)
	CompletedBy string
	CompletedAt time.Time
	Seq         int    // completion order, 1-based; 0 while not completed
	ApprovedVia string // approval steps: the approver client that approved
	Result      string // the agent's result_sha256 at completion ("sha256:<hex>"), if it sent one

	// ChainVersions are the registration versions of Chain's agents when
	// the chain was formed: a renewal needs them unchanged (§6.3).
	ChainVersions []int
}

// RunFilter selects runs; empty fields match anything.
type RunFilter struct {
	WorkflowID   string
	Status       string
	InitiatedBy  string
	CreatedSince time.Time // runs created at or after it
	// Before continues a listing: runs strictly older than (BeforeTime,
	// BeforeID) in the listing's order. Zero BeforeTime: from the newest.
	BeforeTime time.Time
	BeforeID   string
	Limit      int // at most this many; 0 or less: none
}

// AuditFilter selects audit entries; empty fields match anything.
type AuditFilter struct {
	RunID   string
	AgentID string
	Event   string
	After   int64 // oldest first, Seq > After
	Newest  bool  // newest first instead, Seq < Before (Before 0: from the head)
	Before  int64
	Limit   int // 0 or less: none
}

// Token kinds.
const (
	TokenLegacy   = "legacy"
	TokenIntent   = "intent"
	TokenExchange = "exchange"
)

// Token records an issued access token (never the token itself).
type Token struct {
	JTI       string
	Kind      string
	ClientID  string
	AgentID   string // empty for legacy tokens
	Version   int    // agent registration version
	RunID     string
	StepID    string
	ParentJTI string // delegator's or exchanged subject token
	JKT       string
	Scope     string
	Audience  string
	Chain     []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Revoked   bool
	RevokedAt time.Time
}

// TokenStanding is a token record and the state of the records it
// depends on, as one read saw them.
type TokenStanding struct {
	Token *Token
	// ClientRevokedAt is the RevokedAt of the token's client: zero when
	// the client is not recorded or was never revoked.
	ClientRevokedAt time.Time
	// AgentFound: Token.AgentID names a stored agent, whose Revoked and
	// Version follow (false for a token of no agent).
	AgentFound   bool
	AgentRevoked bool
	AgentVersion int
	// ChainBroken: an agent of Token.Chain other than Token.AgentID is
	// revoked or not stored.
	ChainBroken bool
	// RunStatus is the status of Token.RunID's run: "" when the token has
	// no run or the run is not stored.
	RunStatus string
}

// TokenFilter selects tokens; empty fields match anything. Active limits
// the result to unrevoked tokens not expired at Now.
type TokenFilter struct {
	AgentID   string
	RunID     string
	ParentJTI string
	ClientID  string
	Active    bool
	Now       time.Time
	Limit     int // 0: no limit

	// ChainAgent selects tokens whose Chain contains this agent, as
	// holder or anywhere up the delegation.
	ChainAgent string
	// Delegated selects tokens minted under a delegation (a Chain of two
	// agents or more); with Active, it reads only those.
	Delegated bool
}

// Client is a client id the server has served (§9). It stays after the
// client leaves the configuration, so that the removal is noticed at the
// next start.
type Client struct {
	ClientID  string
	FirstSeen time.Time
	// Removed: the client left the configuration and its removal was
	// revoked; false again when it is configured again.
	Removed bool
	// RevokedAt revokes every token the client obtained at or before it,
	// compared in whole seconds (iat); zero for none.
	RevokedAt time.Time
}

// Revocation types of the §9 feed.
const (
	RevokedToken  = "token"
	RevokedAgent  = "agent"
	RevokedRun    = "run"
	RevokedClient = "client"
)

// Revocation is one entry of the revocation feed.
type Revocation struct {
	Seq     int64
	Type    string
	ID      string
	At      time.Time
	Expires time.Time // when the entry stops being relevant
	// Version, on an agent entry, revokes the agent's tokens of versions
	// up to it (a re-registration); 0 revokes the agent itself.
	Version int
}

// AuditEntry is one hash-chained audit record (§9). Detail never holds
// secrets, tokens or prompts.
type AuditEntry struct {
	Seq      int64
	Time     time.Time
	Event    string
	ClientID string
	AgentID  string
	RunID    string
	Step     string
	Outcome  string
	Detail   string
	Prev     string
	Hash     string
}

// SigningKey is an issuer signing key as stored. PrivatePEM holds PKCS#8
// PEM, encrypted by the server before it reaches the store when a
// key-encryption key is configured.
type SigningKey struct {
	KeyID      string
	Alg        string
	PrivatePEM []byte
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while active
}
