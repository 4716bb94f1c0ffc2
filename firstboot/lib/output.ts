// Console output for both programs: human text (coloured on a TTY), or one JSON document with
// --json. Commands report through an Output, never console.log, so --json/-q/-v behave alike everywhere.
// The contract: stdout carries the product (text, or with --json exactly one JSON document, failures
// included); progress, warnings and errors go to stderr, with or without --json.
import pc from 'picocolors';
import { ConfigError, InternalError, OberError, formatIssues } from './errors.js';
import { createProgress, type Progress } from './progress.js';

export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  color?: boolean;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  private readonly c: ReturnType<typeof pc.createColors>;
  /** Whether the JSON document of this run has been written (a run writes one, never two). */
  private emitted = false;

  constructor(
    opts: GlobalOptions = {},
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {
    this.json = !!opts.json;
    this.quiet = !!opts.quiet;
    this.verbose = !!opts.verbose;
    const tty = (out as { isTTY?: boolean }).isTTY === true;
    // commander's --no-color makes `color` default to true, so only an explicit false counts.
    this.c = pc.createColors(opts.color !== false && tty && !process.env.NO_COLOR);
  }

  get colors(): ReturnType<typeof pc.createColors> {
    return this.c;
  }

  /** Progress text, on stderr; suppressed by --quiet only (a --json run still shows its progress). */
  info(msg: string): void {
    if (!this.quiet) this.err.write(msg + '\n');
  }

  /** Result text that is the command's product (e.g. a rendered file list); suppressed by --json. */
  result(msg: string): void {
    if (!this.json) this.out.write(msg + '\n');
  }

  detail(msg: string): void {
    if (this.verbose) this.err.write(this.c.dim(msg) + '\n');
  }

  ok(msg: string): void {
    this.info(`${this.c.green('✓')} ${msg}`);
  }

  warn(msg: string): void {
    this.err.write(`${this.c.yellow('warning:')} ${msg}\n`);
  }

  /** Live progress of long work, on stderr (also with --json; silent with --quiet). */
  progress(): Progress {
    return createProgress({ quiet: this.quiet, stream: this.err as NodeJS.WriteStream });
  }

  /** True once the run's JSON document is out. */
  get jsonEmitted(): boolean {
    return this.emitted;
  }

  /** The single JSON document of a --json run. */
  emitJson(data: unknown): void {
    if (this.emitted) throw new InternalError('a second JSON document in one run');
    this.emitted = true;
    this.out.write(JSON.stringify(data, null, 2) + '\n');
  }

  /** Report an error; returns the exit code to use. */
  failure(e: unknown): number {
    const err = e instanceof Error ? e : new Error(String(e));
    const code = err instanceof OberError ? err.exitCode : 1;
    if (this.json && !this.emitted) {
      this.emitJson({
        ok: false,
        error: { kind: err.name, message: err.message, ...(err instanceof ConfigError ? { issues: err.issues } : {}) },
      });
    }
    if (err instanceof ConfigError) {
      this.err.write(`${this.c.red('error:')} ${err.source}: ${err.issues.length} problem(s)\n${formatIssues(err.issues)}\n`);
    } else if (err instanceof OberError) {
      this.err.write(`${this.c.red('error:')} ${err.message}\n`);
    } else {
      this.err.write(`${this.c.red('internal error:')} ${err.stack ?? err.message}\n`);
    }
    return code;
  }
}
