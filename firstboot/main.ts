// Entry point of the node program (`ober` inside the appliance image, bundled to one file).
import { buildProgram, runProgram } from './lib/program.js';
import { nodeCommands } from './commands/index.js';

const program = buildProgram('Herr Ober node program: first boot, status, health and service control', nodeCommands, { showRoot: true });
process.exitCode = await runProgram(program, process.argv.slice(2));
