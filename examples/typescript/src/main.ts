// The shortest real use of the ajwt TypeScript SDK: the first step of the
// vuln-patch workflow against an `ajwt serve` started from `ajwt init`,
// exactly as examples/quickstart does it in Go.
//
//   go run ./cmd/ajwt init --dir ./ajwt-demo
//   go run ./cmd/ajwt serve --config ./ajwt-demo/ajwt.yaml --data ./ajwt-demo/data &
//   cd examples/typescript && npm ci && npm start -- --dir ../../ajwt-demo
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { type Agent, type AgentSpec, AjwtClient, AjwtError, derivedKey, loadMasterSecretFile } from '@ajwt/client';
import { parse as parseYaml } from 'yaml';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: 'ajwt-demo' }, // the directory `ajwt init` wrote
      issuer: { type: 'string', default: 'http://127.0.0.1:8420' }, // the IdP's issuer URL
    },
  });
  await quickstart(values.dir!, values.issuer!);
}

async function quickstart(dir: string, issuer: string): Promise<void> {
  const secrets = await readEnv(join(dir, 'client-secrets.env'));
  const master = await loadMasterSecretFile(join(dir, 'shim-master.key'));
  const c = await AjwtClient.discover({ issuer, clientId: 'patch-app', clientSecret: secrets.AJWT_PATCH_APP_SECRET ?? '' });
  const classifier = await agent(c, dir, 'classifier', master);

  // Start-up check: the agent we run is the agent that was registered.
  await classifier.verifyRegistration();
  console.log('classifier: registration verified');

  const run = await c.startRun('vuln-patch', 'user:alice', { repo: 'acme/web' });
  console.log(`run ${run.run_id} started`);

  const prompt = classifier.render({ repo: 'acme/web' });
  console.log(`prompt rendered (${Buffer.byteLength(prompt)} bytes)`);

  const tok = await classifier.tokenSource(run.run_id, 'classify').token();
  console.log(`intent token for step ${tok.step}, scope ${JSON.stringify(tok.scope)}`);
  // A real agent would now call the forge with
  // ajwtFetch(classifier.tokenSource(run.run_id, 'classify', { resource: 'https://forge.example' })).
  const done = await classifier.complete(run.run_id, 'classify');
  for (const s of done.steps) console.log(`  ${s.id.padEnd(9)} ${s.state}`);
}

async function agent(c: AjwtClient, dir: string, id: string, master: Uint8Array): Promise<Agent> {
  const spec = parseYaml(await readFile(join(dir, 'agents', `${id}.yaml`), 'utf8')) as AgentSpec;
  return c.agent(spec, derivedKey(master));
}

async function readEnv(path: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('#')) env[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return env;
}

main().catch((e: unknown) => {
  console.error('quickstart:', e instanceof AjwtError ? e.message : e);
  process.exit(1);
});
