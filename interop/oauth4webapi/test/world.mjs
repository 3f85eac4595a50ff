// Starts the real programs the interoperability tests talk to — `ajwt serve`,
// `ajwt proxy` in front of a Node upstream — built from this repository, and
// writes their configuration the way an operator would: agents and clients
// registered with the public JWKs that WebCrypto exports, checksums printed
// by `ajwt checksum`. Nothing here speaks OAuth: that is oauth4webapi's job.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The public half of a WebCrypto key pair, as the browser or Node exports it. */
export async function publicJwk(keyPair) {
  return crypto.subtle.exportKey('jwk', keyPair.publicKey);
}

export class World {
  dir = mkdtempSync(join(tmpdir(), 'ajwt-o4w-'));
  #procs = [];
  #logs = new Map();
  #servers = [];

  get bin() {
    return join(this.dir, 'ajwt');
  }

  async build() {
    await run('go', ['build', '-o', this.bin, './cmd/ajwt'], { cwd: repoRoot, timeout: 600_000 });
  }

  /** The agent checksum of spec (§2.4), as `ajwt checksum` prints it. */
  async checksum(spec) {
    const file = join(this.dir, `${spec.agent_id}.spec.json`);
    writeFileSync(file, JSON.stringify(spec));
    const { stdout } = await run(this.bin, ['checksum', file]);
    return stdout.trim();
  }

  /** Writes config (issuer filled in) and starts `ajwt serve` on port; returns the issuer. */
  async serve(name, port, config) {
    const issuer = `http://127.0.0.1:${port}`;
    const file = join(this.dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify({ issuer, ...config }, null, 1)); // JSON is YAML
    this.#start(['serve', '--quiet', '--config', file, '--data', join(this.dir, `${name}-data`), '--addr', `127.0.0.1:${port}`]);
    await this.#waitFor(`${issuer}/readyz`, 60_000);
    return issuer;
  }

  /** Starts `ajwt proxy` on port with policy; returns its URL once it listens. */
  async proxy(name, port, upstream, policy) {
    const url = `http://127.0.0.1:${port}`;
    const file = join(this.dir, `${name}-policy.yaml`);
    writeFileSync(file, JSON.stringify({ public_url: url, ...policy }, null, 1));
    this.#start(['proxy', '--policy', file, '--upstream', upstream, '--addr', `127.0.0.1:${port}`]);
    // The proxy listens only after its 5 s restart guard (PROTOCOL.md §8).
    await this.#waitFor(`${url}/.well-known/oauth-protected-resource`, 60_000);
    return url;
  }

  /** A Node HTTP API that records the ajwt identity headers the proxy adds. */
  async upstream() {
    const seen = [];
    const server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push({
        method: req.method, path: req.url, body,
        authorization: req.headers.authorization, dpop: req.headers.dpop,
        client: req.headers['ajwt-client'], agent: req.headers['ajwt-agent'], step: req.headers['ajwt-step'], run: req.headers['ajwt-run'],
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    this.#servers.push(server);
    return { url: `http://127.0.0.1:${server.address().port}`, seen };
  }

  #start(args) {
    const p = spawn(this.bin, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#logs.set(p, '');
    const keep = (b) => this.#logs.set(p, (this.#logs.get(p) + b.toString()).slice(-8000));
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    this.#procs.push(p);
  }

  async #waitFor(url, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${url} did not come up within ${ms} ms:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The last output of every process, for a failure's message. */
  output() {
    return [...this.#logs.values()].join('\n----\n');
  }

  async stop() {
    for (const s of this.#servers) {
      s.closeAllConnections();
      s.close();
    }
    await Promise.all(this.#procs.map((p) => new Promise((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    })));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function freePort() {
  const s = createNetServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(() => r()));
  return port;
}
