// A small vocabulary of errors. Library code throws these; only a CLI entry point turns them into
// output and an exit code. Every message says what failed, where (field, node, path, argv) and
// what to do about it.

export interface ConfigIssue {
  /** Dotted path into the document, e.g. `nodes[1].address` or `bgp.neighbors[0]`. */
  path: string;
  message: string;
  /** How to fix it, when there is more to say than the message. */
  hint?: string;
}

export class OberError extends Error {
  override name = 'OberError';
  /** Process exit code a CLI uses for this error. */
  readonly exitCode: number = 1;
}

/** Invalid user input: a cluster file, node metadata, a flag. Carries every issue found, not the first. */
export class ConfigError extends OberError {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n` + formatIssues(issues));
  }
}

export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path || '(root)'}: ${i.message}${i.hint ? `\n    fix: ${i.hint}` : ''}`).join('\n');
}

/** A program the step needs is not installed. */
export class ToolMissingError extends OberError {
  override name = 'ToolMissingError';
  constructor(
    readonly tool: string,
    readonly purpose: string,
    readonly debianPackage: string,
  ) {
    super(`Could not find '${tool}', which is required to ${purpose}. Install it: apt-get install ${debianPackage}`);
  }
}

/** An external program ran and failed. */
export class ToolFailedError extends OberError {
  override name = 'ToolFailedError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode_: number | undefined,
    readonly stderrTail: string,
    readonly signal?: string,
  ) {
    super(
      `command failed (${signal ? `signal ${signal}` : `exit ${exitCode_ ?? '?'}`}): ${argv.map(shellQuote).join(' ')}` +
        (stderrTail ? `\n${indent(stderrTail)}` : ''),
    );
  }
}

/** A remote API (Proxmox) answered with an error. */
export class ApiError extends OberError {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly method?: string,
    readonly url?: string,
  ) {
    super(message);
  }
}

/** A bug: an invariant the code relies on does not hold. */
export class InternalError extends OberError {
  override name = 'InternalError';
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Quote an argv element for display (never for execution: we always exec argv arrays). */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
