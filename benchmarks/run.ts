/**
 * The one benchmark runner: `npm run bench -- [scope ...] [--quick]`.
 * Each scope writes results/<scope>.json and its section of README.md.
 */
import { readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Scope, ScopeResult } from './lib/scope.js';
import { machine } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));

async function loadScopes(): Promise<Scope[]> {
  const files = (await readdir(path.join(here, 'scopes'))).filter((f) => f.endsWith('.ts')).sort();
  const scopes: Scope[] = [];
  for (const f of files) {
    const mod = (await import(path.join(here, 'scopes', f))) as { default: Scope };
    scopes.push(mod.default);
  }
  return scopes;
}

function markdown(scope: Scope, result: ScopeResult, when: string): string {
  const { columns, rows } = result.table;
  const lines = [
    `<!-- scope:${scope.name}:start -->`,
    `### ${scope.name}`,
    '',
    scope.description,
    '',
    `Measured ${when} on ${JSON.stringify(machine())}.`,
    '',
    `Parameters: \`${JSON.stringify(result.parameters)}\``,
    '',
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  if (result.targets?.length) lines.push('', '**Targets**', '', ...result.targets.map((t) => `- ${t}`));
  if (result.charts?.length) lines.push('', ...result.charts.map((c) => `![${path.basename(c, '.svg')}](${c})`));
  lines.push(`<!-- scope:${scope.name}:end -->`);
  return lines.join('\n');
}

async function updateReadme(section: string, name: string): Promise<void> {
  const file = path.join(here, 'README.md');
  let text = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const start = `<!-- scope:${name}:start -->`;
  const end = `<!-- scope:${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? text.slice(0, i) + section + text.slice(j + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, text);
}

const scopes = await loadScopes();
const unknown = wanted.filter((w) => !scopes.some((s) => s.name === w));
if (unknown.length > 0) {
  console.error(`Unknown scope(s): ${unknown.join(', ')}. Known: ${scopes.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
await mkdir(path.join(here, 'results'), { recursive: true });
for (const scope of scopes.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  console.log(`\n== ${scope.name}${quick ? ' (quick)' : ''} ==`);
  const result = await scope.run({ quick, log: (l) => console.log(`  ${l}`) });
  const when = new Date().toISOString().slice(0, 10);
  console.log(`parameters: ${JSON.stringify(result.parameters)}`);
  console.table(result.table.rows.map((r) => Object.fromEntries(result.table.columns.map((c, k) => [c, r[k]]))));
  for (const t of result.targets ?? []) console.log(`target: ${t}`);
  await writeFile(
    path.join(here, 'results', `${scope.name}.json`),
    `${JSON.stringify({ scope: scope.name, when, machine: machine(), quick, ...result }, null, 2)}\n`,
  );
  if (!quick) await updateReadme(markdown(scope, result, when), scope.name);
}
