// What `npm install` on a fresh clone checks, read from the lockfile it
// installs: no package whose engines refuse a Node we allow (npm prints
// EBADENGINE for those), and no install script nobody decided about (npm 11
// blocks them and lists them as "not yet covered by allowScripts").
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import semver from 'semver';

interface LockedPackage {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  hasInstallScript?: boolean;
  engines?: { node?: string } | string[];
}

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, LockedPackage> };
const installed = Object.entries(lock.packages).filter(([where]) => where !== '');
const nameOf = (where: string) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);
const nodeRange = (pkg: LockedPackage) => (Array.isArray(pkg.engines) ? undefined : pkg.engines?.node);

describe('a clean install prints no warning', () => {
  const oldest = semver.minVersion(manifest.engines.node)!.version;

  test('every package accepts the oldest Node that engines allows and the one running', () => {
    const refusing = installed
      .filter(([, pkg]) => nodeRange(pkg) !== undefined)
      .filter(([, pkg]) => !semver.satisfies(oldest, nodeRange(pkg)!) || !semver.satisfies(process.version, nodeRange(pkg)!))
      .map(([where, pkg]) => `${nameOf(where)}@${pkg.version} wants node ${nodeRange(pkg)}`);
    expect(refusing).toEqual([]);
  });

  test('every Node that engines allows, the runtime dependencies allow too', () => {
    const narrower = installed
      .filter(([, pkg]) => !pkg.dev && !pkg.devOptional && nodeRange(pkg) !== undefined)
      .filter(([, pkg]) => !semver.subset(manifest.engines.node, nodeRange(pkg)!))
      .map(([where, pkg]) => `${nameOf(where)}@${pkg.version} wants node ${nodeRange(pkg)}`);
    expect(narrower).toEqual([]);
  });

  // skein is ES modules; CommonJS callers get it through require(esm), which
  // Node runs unflagged from 20.19 and 22.12 (ERR_REQUIRE_ESM before).
  test('every Node that engines allows can require() skein', () => {
    expect(semver.subset(manifest.engines.node, '^20.19.0 || >=22.12.0')).toBe(true);
  });

  test('every install script is allowed or denied in allowScripts', () => {
    const undecided = installed
      .filter(([, pkg]) => pkg.hasInstallScript)
      .map(([where]) => nameOf(where))
      .filter((name) => typeof manifest.allowScripts?.[name] !== 'boolean');
    expect(undecided).toEqual([]);
  });
});
