// Every template, inlined at bundle time (scripts/bundle.mjs) and served by vite in tests.
import haproxyCfg from '../../templates/haproxy.cfg.hbs?raw';
import statusLua from '../../templates/status.lua.hbs?raw';
import exabgpConf from '../../templates/exabgp.conf.hbs?raw';
import exabgpEnv from '../../templates/exabgp.env.hbs?raw';
import birdConf from '../../templates/bird-bfd.conf.hbs?raw';
import keepalivedConf from '../../templates/keepalived.conf.hbs?raw';
import vrrpNotify from '../../templates/vrrp-notify.sh.hbs?raw';
import sysctlConf from '../../templates/sysctl.conf.hbs?raw';
import watchdogConf from '../../templates/watchdog.conf.hbs?raw';
import loVipNetdev from '../../templates/lo-vip.netdev.hbs?raw';
import loVipNetwork from '../../templates/lo-vip.network.hbs?raw';
import loVipNm from '../../templates/lo-vip.nmconnection.hbs?raw';
import journaldConf from '../../templates/journald.conf.hbs?raw';
import nftables from '../../templates/nftables.nft.hbs?raw';
import modeConf from '../../templates/mode.conf.hbs?raw';
import tmpfilesConf from '../../templates/tmpfiles.conf.hbs?raw';
import unitFirstboot from '../../templates/units/ober-firstboot.service.hbs?raw';
import unitHttp from '../../templates/units/ober-http.service.hbs?raw';
import unitBgp from '../../templates/units/ober-bgp.service.hbs?raw';
import unitBfd from '../../templates/units/ober-bfd.service.hbs?raw';
import unitHa from '../../templates/units/ober-ha.service.hbs?raw';
import unitTrack from '../../templates/units/ober-track.service.hbs?raw';
import unitCertsPath from '../../templates/units/ober-certs.path.hbs?raw';
import unitCerts from '../../templates/units/ober-certs.service.hbs?raw';
import unitReset from '../../templates/units/ober-reset@.service.hbs?raw';
import unitWatchdog from '../../templates/units/ober-watchdog.service.hbs?raw';
import unitStatus from '../../templates/units/ober-status.service.hbs?raw';
import unitRoutes from '../../templates/units/ober-routes.service.hbs?raw';

export const TEMPLATES = {
  haproxyCfg,
  statusLua,
  exabgpConf,
  exabgpEnv,
  birdConf,
  keepalivedConf,
  vrrpNotify,
  sysctlConf,
  watchdogConf,
  loVipNetdev,
  loVipNetwork,
  loVipNm,
  journaldConf,
  nftables,
  modeConf,
  tmpfilesConf,
  unitFirstboot,
  unitHttp,
  unitBgp,
  unitBfd,
  unitHa,
  unitTrack,
  unitCertsPath,
  unitCerts,
  unitReset,
  unitWatchdog,
  unitStatus,
  unitRoutes,
} as const;
