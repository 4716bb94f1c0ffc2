// The commander frame both programs share: global flags and the error → exit code boundary.
// The CLI contract is kept here, once for every command: exit 0 or 1; with --json exactly one JSON
// document on stdout (a usage error or a failure included); progress and errors on stderr.
import { Command, CommanderError, Option } from 'commander';
import { Output, type GlobalOptions } from './output.js';
import { OBER_VERSION } from '../version.js';
import { nodeLayout, type Layout } from '../model/layout.js';

export type Register = (program: Command, ctx: ProgramContext) => void;

export interface ProgramContext {
  /** Output built from the global flags of the running command (one per run). */
  output(cmd: Command): Output;
  /** The node layout under --root / $OBER_ROOT (node commands). */
  layout(cmd: Command): Layout;
}

export interface ProgramOptions {
  /** Show --root in the help: the node program's flag (tests, rescue). The admin tool accepts it hidden. */
  showRoot?: boolean;
}

/** What runProgram needs besides the commander object: the run's Output and commander's last usage error. */
interface RunState {
  output?: Output;
  usageError?: string;
}
const runStates = new WeakMap<Command, RunState>();

export function buildProgram(description: string, registers: readonly Register[], opts: ProgramOptions = {}): Command {
  const state: RunState = {};
  const root = new Option('--root <dir>', 'node root directory for node commands (tests, rescue; default $OBER_ROOT or /)');
  const program = new Command('ober')
    .description(description)
    .version(OBER_VERSION, '--version', 'print the version')
    .option('--json', 'machine-readable JSON output: one document on stdout; progress stays on stderr')
    .option('-q, --quiet', 'print only errors and results')
    .option('-v, --verbose', 'print more detail')
    .option('--no-color', 'no colours, even on a terminal')
    .addOption(opts.showRoot ? root : root.hideHelp())
    .showHelpAfterError()
    // Inherited by every subcommand: remember the usage error so a --json run can report it as JSON.
    .configureOutput({
      outputError: (text, write) => {
        state.usageError = text.replace(/^error: /, '').trim();
        write(text);
      },
    })
    .exitOverride();
  const ctx: ProgramContext = {
    output: (cmd) => (state.output ??= new Output(cmd.optsWithGlobals<GlobalOptions>())),
    layout: (cmd) => nodeLayout(cmd.optsWithGlobals<{ root?: string }>().root ?? process.env.OBER_ROOT ?? ''),
  };
  for (const r of registers) r(program, ctx);
  runStates.set(program, state);
  return program;
}

/** Run a program with argv and return the exit code (0 ok, 1 error). Never calls process.exit itself. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  const state = runStates.get(program) ?? {};
  // Before commander parsed anything (a usage error), --json is known only from argv.
  const json = () => state.output?.json ?? argv.includes('--json');
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    // A command that had nothing to say as data still owes a --json run its one document.
    if (state.output?.json && !state.output.jsonEmitted) state.output.emitJson({ ok: code === 0 });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors were printed by commander.
      if (e.exitCode === 0) return 0;
      // A command group called without its subcommand: commander printed the group's help only.
      if (e.code === 'commander.help') process.stderr.write(`error: ${(state.usageError ??= 'a subcommand is required (listed above)')}\n`);
      if (json()) new Output({ json: true }).emitJson({ ok: false, error: { kind: 'UsageError', message: state.usageError ?? e.message } });
      return 1;
    }
    return (state.output ?? new Output({ json: json() })).failure(e);
  }
}
