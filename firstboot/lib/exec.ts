// The one place external programs are run: argv arrays (never shell strings) through execa.
// A failure carries the argv, the exit code and the tail of stderr.
import { execa, type Options } from 'execa';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { ToolFailedError, ToolMissingError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Resolve instead of throwing on a non-zero exit; the caller inspects `exitCode`. */
  allowFailure?: boolean;
  /** Stream output to the parent's stderr (long builds); stdout/stderr are then not captured. */
  inherit?: boolean;
  /** Each line of stdout and stderr as it comes (progress); both are still captured. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const STDERR_TAIL_LINES = 20;

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run: empty argv');
  const options: Options = {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    timeout: opts.timeoutMs,
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    stdout: opts.inherit ? 'inherit' : opts.onLine ? [lineTap(opts.onLine), 'pipe'] : 'pipe',
    stderr: opts.inherit ? 'inherit' : opts.onLine ? [lineTap(opts.onLine), 'pipe'] : 'pipe',
    encoding: 'utf8',
  };
  const r = await execa(file, args, options);
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new ToolFailedError(argv, undefined, `${file}: not found`);
  }
  const exitCode = r.exitCode ?? -1;
  if (exitCode !== 0 && !opts.allowFailure) {
    const tail = (stderr || stdout).trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
    throw new ToolFailedError(argv, r.exitCode, tail, r.signal ?? (r.timedOut ? 'timeout' : undefined));
  }
  return { stdout, stderr, exitCode };
}

/** An execa line transform that shows each line to `onLine` and passes it on unchanged. */
function lineTap(onLine: (line: string) => void) {
  return function* (line: unknown): Generator<unknown> {
    onLine(String(line));
    yield line;
  };
}

export interface ToolRequirement {
  /** Program name looked up on PATH (or an absolute path). */
  tool: string;
  /** What it is needed for, completing "required to ...". */
  purpose: string;
  /** Debian package that provides it. */
  debianPackage: string;
}

/** Resolve a program on PATH (plus the sbin directories root has); undefined when absent. */
export async function which(tool: string): Promise<string | undefined> {
  const candidates = tool.includes('/')
    ? [tool]
    : [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']
        .filter(Boolean)
        .map((d) => path.join(d, tool));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Check every tool before the first step runs; throws for the first missing one. */
export async function requireTools(reqs: readonly ToolRequirement[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const r of reqs) {
    const p = await which(r.tool);
    if (!p) throw new ToolMissingError(r.tool, r.purpose, r.debianPackage);
    found.set(r.tool, p);
  }
  return found;
}
