// What first boot does to a real node after installing: the settings that only take effect when
// applied, and a systemd reload so the mode drop-in is seen before ober-http starts.
import { run } from '../lib/exec.js';
import type { SystemActions } from './firstboot.js';

export const systemdActions: SystemActions = {
  async activate(layout, mode) {
    await run(['sysctl', '-q', '-p', layout.sysctlFile]);
    await run(['nft', '-f', layout.nftablesRules]);
    await run(['systemctl', 'daemon-reload']);
    // journald reads its drop-ins at start; networkd picks up lo-vip on reload.
    await run(['systemctl', 'restart', 'systemd-journald.service'], { allowFailure: true });
    if (mode === 'bgp') await run(['networkctl', 'reload'], { allowFailure: true });
  },
};

