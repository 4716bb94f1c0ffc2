// Entry point of the admin tool (`ober` on the admin host).
import { buildProgram, runProgram } from '../firstboot/lib/program.js';
import { adminCommands } from './commands/index.js';

const program = buildProgram('Herr Ober: build, deploy and upgrade the S3 ingress appliance', adminCommands);
process.exitCode = await runProgram(program, process.argv.slice(2));
