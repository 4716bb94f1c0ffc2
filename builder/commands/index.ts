import type { Register } from '../../firstboot/lib/program.js';
import { contractCommands } from '../../firstboot/commands/index.js';
import { registerBuildImage } from './build-image.js';
import { registerDrill } from './drill.js';
import { registerImage } from './image-export.js';
import { registerRelease } from './release.js';
import { registerTemplate } from './template.js';
import { registerDeploy } from './deploy.js';
import { registerDestroy } from './destroy.js';
import { registerFleet } from './fleet.js';
import { registerDashboard } from './dashboard.js';
import { registerConfig } from './config.js';
import { registerRollout, registerUpgrade } from './rollout.js';

/** Commands of the admin tool. */
export const adminCommands: Register[] = [...contractCommands, registerBuildImage, registerImage, registerDrill, registerTemplate, registerDeploy, registerDestroy, registerRollout, registerUpgrade, registerRelease, registerFleet, registerDashboard, registerConfig];
