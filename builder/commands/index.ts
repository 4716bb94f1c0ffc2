import type { Register } from '../../firstboot/lib/program.js';
import { contractCommands } from '../../firstboot/commands/index.js';

/** Commands of the admin tool. */
export const adminCommands: Register[] = [...contractCommands];
