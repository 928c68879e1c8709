import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/progress-tty.mjs', import.meta.url));
const HIDE = '\x1b[?25l';
const SHOW = '\x1b[?25h';

/**
 * Runs the fixture under a pseudo-terminal (util-linux `script`), so its
 * stderr is a TTY; `interrupt` presses Ctrl-C (a ^C on the terminal, which
 * the line discipline turns into SIGINT) once the fixture says it is running.
 */
function underTerminal(mode: string, interrupt = false): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `${process.execPath} ${fixture} ${mode}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let pressed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('error', reject);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (interrupt && !pressed && out.includes('running')) {
        pressed = true;
        child.stdin.write('\x03');
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** What a terminal shows, line by line: carriage returns, column moves and erasures applied. */
function screenLines(raw: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let column = 0;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\x1b') {
      const m = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(raw.slice(i));
      if (m === null) {
        i += 1; // ESC 7 / ESC 8
        continue;
      }
      i += m[0].length - 1;
      if (m[2] === 'G') column = Number(m[1] || 1) - 1;
      else if (m[2] === 'K' && m[1] === '2') line = [];
      else if (m[2] === 'K') line.length = Math.min(line.length, column);
    } else if (ch === '\r') {
      column = 0;
    } else if (ch === '\n') {
      lines.push(line.join(''));
      line = [];
      column = 0;
    } else {
      line[column++] = ch;
    }
  }
  lines.push(line.join(''));
  return lines;
}

describe('progress: true on a terminal', () => {
  // Before: lines were written over the bar, and the first frame was a full bar labelled 0/0.
  test('with verbose: 1, log lines go above the bar, and the bar stays indeterminate until the total is known', async () => {
    const { code, out } = await underTerminal('verbose');
    expect(code).toBe(0);
    expect(out).not.toContain('0/0');
    const screen = screenLines(out);
    const logs = screen.filter((l) => l.includes('[Parallel(nJobs=2)]: Done'));
    expect(logs.length).toBeGreaterThan(2);
    for (const l of logs) expect(l).toMatch(/^\[Parallel\(nJobs=2\)\]: Done /);
    // Each run's first frame slides a block, counting tasks without a total.
    const frames = out.split('\x1b[1Gskein |').slice(1);
    expect(frames[0]).toMatch(/^[░]*█{4}[░]*\| 0 tasks \| \d+s elapsed/);
    // Any frame with a total shows it as it is: 24 tasks in each run.
    for (const f of frames) {
      const counted = /^[█░]+\| (\d+)\/(\d+) tasks/.exec(f);
      if (counted) expect(counted[2]).toBe('24');
    }
    expect(screen.some((l) => /^skein \|█+\| 24\/24 tasks/.test(l))).toBe(true);
    expect(out.lastIndexOf(SHOW)).toBeGreaterThan(out.lastIndexOf(HIDE));
    expect(out).toContain('done');
  });

  // Before: the process died with the cursor hidden.
  test('Ctrl-C during a run shows the cursor again, and the process still dies of the signal', async () => {
    const { code, out } = await underTerminal('interrupt', true);
    expect(out).toContain(HIDE);
    expect(out).toContain('^C');
    expect(out.slice(out.lastIndexOf(HIDE))).toContain(SHOW);
    expect(out.slice(out.lastIndexOf('^C'))).toContain(`${SHOW}\x1b[?7h`);
    expect(out).not.toContain('not interrupted');
    // script reports a child killed by SIGINT as 128 + 2.
    expect(code).toBe(130);
  });
});
