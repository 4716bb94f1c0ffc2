import type { Register } from '../lib/program.js';
import { contractRegisters } from './contract.js';
import { healthRegisters } from './health.js';
import { registerFirstboot } from './firstboot.js';
import { registerStatus } from './status.js';
import { operationRegisters } from './operations.js';

/** Commands shared by the node program and the admin tool (the node contract: validate, render). */
export const contractCommands: Register[] = [...contractRegisters];

/** Commands of the node program. */
export const nodeCommands: Register[] = [
  ...contractCommands,
  ...healthRegisters,
  registerFirstboot,
  registerStatus,
  ...operationRegisters,
];
