// The CI version of the soak: 200 connections for 60 s against the built packages, run as
// `pnpm soak` runs it (`node dist/soak.js`, its server in a process of its own). It passes when
// no error came out that the run's own abrupt closes do not explain, every kind of operation
// happened, and the server's RSS stayed flat after warm-up (src/memory.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SOAK = fileURLToPath(new URL('../dist/soak.js', import.meta.url));
/** 60 s of load, then closing, each wait of which is bounded: a soak past this is killed. */
const KILL_AFTER_MS = 140_000;

/** The parts of the soak's last stdout line (its summary as JSON) that the test reads. */
interface Summary {
  readonly soak: {
    readonly pass: boolean;
    readonly unexpected: number;
    readonly client: {
      readonly handshakes: number;
      readonly resumed: number;
      readonly updates: number;
      readonly keyUpdates: number;
      readonly echoes: number;
      readonly gracefulCloses: number;
      readonly abruptCloses: Record<string, number>;
      readonly unexpected: Record<string, number>;
    };
    readonly server: { readonly unexpected: Record<string, number> } | null;
    readonly rss: { readonly flat: boolean; readonly growthPercent: number | null };
  };
}

describe('soak', () => {
  it('200 connections for 60 s: no unexpected error, every operation happens, the server RSS stays flat', async () => {
    const child = spawn(
      process.execPath,
      [SOAK, '--connections', '200', '--seconds', '60', '--seed', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    const output = `${stdout}\n${stderr}`;
    const last = stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(last.startsWith('{'), `no summary line:\n${output}`).toBe(true);
    const { soak } = JSON.parse(last) as Summary;

    expect(soak.client.unexpected, output).toEqual({});
    expect(soak.server?.unexpected, output).toEqual({});
    expect(soak.unexpected, output).toBe(0);
    expect(soak.client.handshakes, output).toBeGreaterThan(0);
    expect(soak.client.resumed, output).toBeGreaterThan(0);
    expect(soak.client.updates, output).toBeGreaterThan(0);
    expect(soak.client.keyUpdates, output).toBeGreaterThan(0);
    expect(soak.client.echoes, output).toBeGreaterThan(0);
    expect(soak.client.gracefulCloses, output).toBeGreaterThan(0);
    expect(Object.keys(soak.client.abruptCloses).sort(), output).toEqual([
      'destroy',
      'relay-cut',
      'tcp-destroy',
    ]);
    expect(soak.rss.flat, output).toBe(true);
    expect(soak.pass, output).toBe(true);
    expect(exit, output).toEqual({ code: 0, signal: null });
  });
});
