// What first boot does to a real node after installing: the settings that only take effect when
// applied, and a systemd reload so the mode drop-in is seen before ober-http starts.
import { run } from '../lib/exec.js';
import { applyBackendQuickAck } from '../ops/backend-quickack.js';
import type { SystemActions } from './firstboot.js';

export const systemdActions: SystemActions = {
  async activate(layout, node) {
    await run(['sysctl', '-q', '-p', layout.sysctlFile]);
    await run(['nft', '-f', layout.nftablesRules]);
    await run(['systemctl', 'daemon-reload']);
    // journald reads its drop-ins at start; networkd picks up lo-vip on reload.
    await run(['systemctl', 'restart', 'systemd-journald.service'], { allowFailure: true });
    if (node.mode === 'bgp') await run(['networkctl', 'reload'], { allowFailure: true });
    // After networkd has its files: the routes that let HAProxy keep its RGW connections.
    const quickAck = await applyBackendQuickAck(node, { networkd: true, networkdDir: layout.networkdDir, header: 'Herr Ober first boot: backend routes' });
    return [
      ...quickAck.unresolved.map((h) => `backend server ${h}: no address or route now, so no quickack route: small answers on its kept connections may wait ~40 ms`),
      ...quickAck.results.filter((r) => !r.ok).map((r) => `backend server ${r.address}: the quickack route did not take (dev ${r.dev}): small answers on its kept connections may wait ~40 ms`),
    ];
  },
};

