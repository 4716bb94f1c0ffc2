import type { Register } from '../../firstboot/lib/program.js';
import { contractCommands } from '../../firstboot/commands/index.js';
import { registerBuildImage } from './build-image.js';
import { registerTemplate } from './template.js';

/** Commands of the admin tool. */
export const adminCommands: Register[] = [...contractCommands, registerBuildImage, registerTemplate];
