// What the kernel still holds for the VIPs' client connections (`ss`): data a client sent that
// HAProxy has not read, and answers HAProxy wrote that the client has not acknowledged. Such a
// connection breaks if its packets start reaching another node (a VRRP hand-over). And the hold
// `ober stop` puts on new connections to VIPs it is about to hand over.
import { run } from '../lib/exec.js';
import { HOLD_SET, NFT_TABLE } from '../render/system.js';

export interface SocketQueues {
  local: string;
  peer: string;
  recvQ: number;
  sendQ: number;
}

/** `ss -Htn` lines → queues; the last four fields are Recv-Q, Send-Q, local and peer address (the state column may be absent). */
export function parseSs(out: string): SocketQueues[] {
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => {
      const [recvQ, sendQ, local, peer] = f.slice(-4) as [string, string, string, string];
      return { local, peer, recvQ: Number(recvQ), sendQ: Number(sendQ) };
    })
    .filter((q) => Number.isFinite(q.recvQ) && Number.isFinite(q.sendQ));
}

/** IPv4 address of an `a.b.c.d:port` socket address. */
const addressOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));

/** Connections on `addresses` (any of `ports`) with data not yet read or not yet acknowledged. */
export async function unsettledConnections(addresses: readonly string[], ports: readonly number[], runner: Runner = run): Promise<SocketQueues[]> {
  const filter = `( ${ports.map((p) => `sport = :${p}`).join(' or ')} )`;
  const r = await runner(['ss', '-Htn', 'state', 'connected', filter]);
  const mine = new Set(addresses);
  return parseSs(r.stdout).filter((q) => mine.has(addressOf(q.local)) && (q.recvQ > 0 || q.sendQ > 0));
}

type Runner = (argv: readonly string[]) => Promise<{ stdout: string }>;

/** Drop new connections to `addresses` on the S3 ports (the rendered rule on HOLD_SET), each for at most `expirySec`. */
export async function holdNewConnections(addresses: readonly string[], expirySec: number, runner: Runner = run): Promise<void> {
  if (!addresses.length) return;
  await runner(['nft', 'add', 'element', ...NFT_TABLE.split(' '), HOLD_SET, `{ ${addresses.map((a) => `${a} timeout ${expirySec}s`).join(', ')} }`]);
}

export async function releaseHold(runner: Runner = run): Promise<void> {
  await runner(['nft', 'flush', 'set', ...NFT_TABLE.split(' '), HOLD_SET]);
}
