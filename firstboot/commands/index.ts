import type { Register } from '../lib/program.js';

/** Commands shared by the node program and the admin tool (the node contract: validate, render). */
export const contractCommands: Register[] = [];

/** Commands of the node program. */
export const nodeCommands: Register[] = [...contractCommands];
