// The commander frame both programs share: global flags and the error → exit code boundary.
import { Command, CommanderError } from 'commander';
import { Output, type GlobalOptions } from './output.js';
import { OBER_VERSION } from '../version.js';
import { nodeLayout, type Layout } from '../model/layout.js';

export type Register = (program: Command, ctx: ProgramContext) => void;

export interface ProgramContext {
  /** Output built from the global flags of the running command. */
  output(cmd: Command): Output;
  /** The node layout under --root / $OBER_ROOT (node commands). */
  layout(cmd: Command): Layout;
}

export function buildProgram(description: string, registers: readonly Register[]): Command {
  const program = new Command('ober')
    .description(description)
    .version(OBER_VERSION, '--version', 'print the version')
    .option('--json', 'machine-readable JSON output')
    .option('-q, --quiet', 'print only errors and results')
    .option('-v, --verbose', 'print more detail')
    .option('--no-color', 'no colours, even on a terminal')
    .option('--root <dir>', 'node root directory for node commands (tests, rescue; default $OBER_ROOT or /)')
    .showHelpAfterError()
    .exitOverride();
  const ctx: ProgramContext = {
    output: (cmd) => new Output(cmd.optsWithGlobals<GlobalOptions>()),
    layout: (cmd) => nodeLayout(cmd.optsWithGlobals<{ root?: string }>().root ?? process.env.OBER_ROOT ?? ''),
  };
  for (const r of registers) r(program, ctx);
  return program;
}

/** Run a program with argv and return the exit code (0 ok, 1 error). Never calls process.exit itself. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors were printed by commander.
      return e.exitCode === 0 ? 0 : 1;
    }
    const json = argv.includes('--json');
    return new Output({ json }).failure(e);
  }
}
