// Operating a running node: service control, logs, run-time whitelists, certificates, checks.
import type { Register } from '../lib/program.js';
import { certsRegisters } from './certs.js';
import { doctorRegisters } from './doctor.js';
import { logsRegisters } from './logs.js';
import { serviceRegisters } from './service.js';
import { syncRegisters } from './sync.js';

export const operationRegisters: Register[] = [...serviceRegisters, ...logsRegisters, ...syncRegisters, ...certsRegisters, ...doctorRegisters];
