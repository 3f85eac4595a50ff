// Starts the real servers the integration tests talk to: `ajwt serve`,
// `ajwt proxy` and the example MCP forge, built from this repository.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { parse as parseYaml } from 'yaml';

import { type AgentSpec, type ProofKey, agentChecksum, deriveAgentKey } from '../src/index.js';
import { repoRoot } from './helpers.js';

const run = promisify(execFile);

export const FORGE = 'https://forge.example';
export const OSV = 'https://osv.example';
export const AGENT_IDS = ['supervisor', 'classifier', 'planner', 'patcher'] as const;
export type AgentId = (typeof AGENT_IDS)[number];

/** Everything a test run starts; stop() ends it all. */
export class World {
  readonly dir = mkdtempSync(join(tmpdir(), 'ajwt-ts-'));
  readonly master = new Uint8Array(32).fill(7);
  readonly secrets = { app: 'app-secret-0123456789abcdef0123456789', approver: 'approver-secret-0123456789abcdef0123' };
  private readonly procs: ChildProcess[] = [];
  private readonly logs = new Map<ChildProcess, string>();
  private readonly servers: Server[] = [];

  /** Builds ajwt and the MCP forge once per world. */
  async build(): Promise<void> {
    await run('go', ['build', '-o', join(this.dir, 'ajwt'), './cmd/ajwt'], { cwd: repoRoot, timeout: 600_000 });
    await run('go', ['build', '-o', join(this.dir, 'mcpforge'), './examples/mcp'], { cwd: repoRoot, timeout: 600_000 });
  }

  /** The example agents, as spec objects (a fresh copy each call). */
  specs(): Record<AgentId, AgentSpec> {
    const out = {} as Record<AgentId, AgentSpec>;
    for (const id of AGENT_IDS) {
      out[id] = parseYaml(readFileSync(join(repoRoot, 'examples/vuln-patch/agents', `${id}.yaml`), 'utf8')) as AgentSpec;
    }
    return out;
  }

  /** Writes a server configuration (JSON is YAML) and starts `ajwt serve`; returns its issuer URL. */
  async serve(name: string, extra: { requireNonce?: boolean; jwtClientKey?: ProofKey } = {}): Promise<string> {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const scopes: Record<AgentId, string[]> = { supervisor: [], classifier: ['repo:read'], planner: ['repo:read', 'osv:query'], patcher: ['repo:read', 'repo:write'] };
    const agents = [];
    for (const [id, spec] of Object.entries(this.specs()) as [AgentId, AgentSpec][]) {
      const key = await deriveAgentKey(this.master, id, await agentChecksum(spec));
      agents.push({
        agent_id: id, client_id: 'patch-app', spec, public_jwk: key.publicJwk, scopes: scopes[id], audiences: [FORGE, OSV],
        ...(id === 'supervisor' ? { may_delegate_to: ['patcher'] } : {}),
      });
    }
    const clients: unknown[] = [
      { client_id: 'patch-app', client_secret: this.secrets.app, scopes: ['ajwt:run', 'repo:read', 'repo:write', 'osv:query'] },
      { client_id: 'approver', client_secret: this.secrets.approver, scopes: ['ajwt:approve'], approves_for: ['patch-app'] },
    ];
    if (extra.jwtClientKey) clients.push({ client_id: 'jwt-app', jwks: { keys: [{ ...extra.jwtClientKey.publicJwk, kid: extra.jwtClientKey.thumbprint }] }, scopes: ['ajwt:run'] });
    const workflow = parseYaml(readFileSync(join(repoRoot, 'examples/vuln-patch/workflow.yaml'), 'utf8'));
    const config = {
      issuer, token_ttl: '120s', failed_grants_per_minute: 1000, ...(extra.requireNonce ? { dpop_require_nonce: true } : {}),
      clients, agents, workflows: [workflow],
    };
    const file = join(this.dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(config, null, 1));
    this.start(join(this.dir, 'ajwt'), ['serve', '--quiet', '--config', file, '--data', join(this.dir, `${name}-data`), '--addr', `127.0.0.1:${port}`]);
    await waitFor(`${issuer}/readyz`);
    return issuer;
  }

  /** Starts `ajwt proxy` with `policy` (issuer and public_url filled in); returns its URL. */
  async proxy(name: string, issuer: string, upstream: string, policy: Record<string, unknown>): Promise<string> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const file = join(this.dir, `${name}-policy.yaml`);
    writeFileSync(file, JSON.stringify({ ...policy, issuer, public_url: url }, null, 1));
    this.start(join(this.dir, 'ajwt'), ['proxy', '--policy', file, '--upstream', upstream, '--addr', `127.0.0.1:${port}`]);
    await waitFor(`${url}/.well-known/oauth-protected-resource`, 60_000); // the proxy listens after its 5 s restart guard
    return url;
  }

  /** Starts the example MCP forge; returns its URL. */
  async mcpForge(): Promise<string> {
    const port = await freePort();
    this.start(join(this.dir, 'mcpforge'), ['--addr', `127.0.0.1:${port}`]);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/mcp`, 30_000, true);
    return url;
  }

  /** A Node HTTP server standing for the protected API; it records what reached it. */
  async upstream(): Promise<{ url: string; seen: Array<{ method: string; path: string; agent: string; step: string; body: string }> }> {
    const seen: Array<{ method: string; path: string; agent: string; step: string; body: string }> = [];
    const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push({ method: req.method!, path: req.url!, agent: String(req.headers['ajwt-agent'] ?? ''), step: String(req.headers['ajwt-step'] ?? ''), body });
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.servers.push(server);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  private start(bin: string, args: string[]): void {
    const p = spawn(bin, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.logs.set(p, '');
    const keep = (b: Buffer) => this.logs.set(p, ((this.logs.get(p) ?? '') + b.toString()).slice(-8000));
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    this.procs.push(p);
  }

  /** The last output of every process, for a failing test's message. */
  output(): string {
    return [...this.logs.values()].join('\n----\n');
  }

  async stop(): Promise<void> {
    for (const s of this.servers) {
      s.closeAllConnections();
      s.close();
    }
    await Promise.all(this.procs.map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    })));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls `url` until it answers (2xx, or any status when anyStatus), within `ms`. */
export async function waitFor(url: string, ms = 30_000, anyStatus = false): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.ok || anyStatus) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
