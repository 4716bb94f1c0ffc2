// Live progress of long work (image build stages, uploads, deploy and rollout per node, drill
// scenarios), always on stderr so a --json document on stdout stays clean. On a terminal: listr2's
// renderer, one line per step with its latest message under it. Elsewhere (CI, a log file, a
// pipe): plain timestamped lines, with chatty updates (package by package, byte counts) thinned
// to one every few seconds per step.
import { Listr, ListrLogger, ProcessOutput } from 'listr2';

export interface ProgressNote {
  /** A routine update that may be dropped from a log when another came moments before (bytes, packages). */
  transient?: boolean;
}

/** Reports on the step named `step` (a stage, a node, a scenario). */
export type ProgressLog = (step: string, message: string, note?: ProgressNote) => void;

export interface Progress {
  /**
   * Run `work`, which goes through `steps` in order and reports each through `log`. A step's
   * first message ends the steps before it; `work` returning ends them all; `work` throwing
   * marks the current step failed (and the error is rethrown, unchanged).
   */
  steps<T>(steps: readonly string[], work: (log: ProgressLog) => Promise<T>): Promise<T>;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Print nothing (--quiet). */
  quiet?: boolean;
  /** Force the renderer: 'tty' (listr2) or 'lines'; default by whether the stream is a terminal. */
  renderer?: 'tty' | 'lines';
  /** For the plain lines: the clock (tests). */
  now?: () => Date;
  /** For the plain lines: the least time between two transient messages of one step. */
  transientMs?: number;
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { steps: (_s, work) => work(() => {}) };
  // A terminal without a size (a pty nobody sized: `script` off a terminal, some CI runners) would
  // have listr2 truncate every line to nothing: it gets the plain lines.
  const renderer = opts.renderer ?? (stream.isTTY && (stream.columns ?? 0) > 0 && !process.env.CI ? 'tty' : 'lines');
  return renderer === 'tty' ? listrProgress(stream) : lineProgress(stream, opts.now ?? (() => new Date()), opts.transientMs ?? 5000);
}

function lineProgress(stream: NodeJS.WritableStream, now: () => Date, transientMs: number): Progress {
  const stamp = () => now().toISOString().slice(11, 19);
  return {
    async steps(steps, work) {
      let current = -1;
      let started = 0;
      const lastShown = new Map<string, number>();
      const write = (step: string, message: string) => stream.write(`${stamp()} ${step}: ${message}\n`);
      const finish = (upTo: number) => {
        for (; current >= 0 && current < upTo; current++) {
          const name = steps[current] ?? '';
          write(name, `done (${((now().getTime() - started) / 1000).toFixed(1)} s)`);
          started = now().getTime();
        }
      };
      const log: ProgressLog = (step, message, note) => {
        const i = steps.indexOf(step);
        if (i > current) {
          if (current >= 0) finish(i);
          current = i;
          started = now().getTime();
        }
        const t = now().getTime();
        if (note?.transient && t - (lastShown.get(step) ?? -Infinity) < transientMs) return;
        lastShown.set(step, t);
        write(step, message);
      };
      try {
        const result = await work(log);
        if (current >= 0) finish(current + 1);
        return result;
      } catch (e) {
        if (current >= 0) write(steps[current] ?? '', `FAILED (${((now().getTime() - started) / 1000).toFixed(1)} s)`);
        throw e;
      }
    },
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function listrProgress(stream: NodeJS.WriteStream): Progress {
  return {
    async steps(steps, work) {
      const ends = steps.map(() => deferred());
      const outputs: ((m: string) => void)[] = [];
      const pending: (string | undefined)[] = [];
      const started = steps.map(() => 0);
      let current = -1;
      const list = new Listr(
        steps.map((title, i) => ({
          title,
          task: async (_ctx: unknown, task: { output: string | undefined; title: string | undefined }) => {
            started[i] = Date.now();
            outputs[i] = (m: string) => (task.output = m);
            if (pending[i] !== undefined) task.output = pending[i];
            try {
              await ends[i]?.promise;
            } finally {
              // listr2 drops a finished task's output buffer: a late message for it must not reach it.
              outputs[i] = () => {};
              task.title = `${title} (${((Date.now() - (started[i] ?? 0)) / 1000).toFixed(1)} s)`;
            }
          },
          rendererOptions: { bottomBar: 1 as const, persistentOutput: false },
        })),
        {
          concurrent: false,
          exitOnError: true,
          registerSignalListeners: false,
          // The caller chose this renderer for a terminal on `stream`; listr2's own check looks at stdout.
          forceTTY: true,
          renderer: 'default',
          rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(stream, stream) }), formatOutput: 'truncate' as const },
        },
      );
      const log: ProgressLog = (step, message) => {
        const i = steps.indexOf(step);
        // Unknown steps, and late messages for a step already ended (work that overlaps), are not drawn.
        if (i < 0 || i < current) return;
        for (let j = Math.max(current, 0); j < i; j++) ends[j]?.resolve();
        current = Math.max(current, i);
        pending[i] = message;
        outputs[i]?.(message);
      };
      const rendering = list.run();
      // The renderer's own rejection repeats the work's error: awaited below, never left floating.
      rendering.catch(() => {});
      try {
        const result = await work(log);
        for (const e of ends) e.resolve();
        await rendering;
        return result;
      } catch (e) {
        ends[Math.max(current, 0)]?.reject(e);
        await rendering.catch(() => {});
        throw e;
      }
    },
  };
}
