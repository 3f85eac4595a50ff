import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from build-test/test/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(repoRoot, 'testdata/vectors', name), 'utf8')) as T;
}
