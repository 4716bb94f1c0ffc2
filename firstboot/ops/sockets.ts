// What the kernel still holds for the VIPs' client connections (`ss`): data a client sent that
// HAProxy has not read, and answers HAProxy wrote that the client has not acknowledged. Such a
// connection breaks if its packets start reaching another node (a VRRP hand-over). And the hold
// `ober stop` puts on new connections to VIPs it is about to hand over.
import { run } from '../lib/exec.js';
import { HOLD_SET, NFT_TABLE } from '../render/system.js';

export interface SocketQueues {
  /** ss's state (ESTAB, SYN-RECV, FIN-WAIT-1, ...); undefined when ss printed no state column. */
  state?: string;
  local: string;
  peer: string;
  recvQ: number;
  sendQ: number;
  /** Bytes the client has sent so far (tcp_info, `ss -i`); undefined when ss was not asked for it. */
  bytesReceived?: number;
}

/**
 * `ss -Htn[i]` output → queues. A socket's line ends in Recv-Q, Send-Q, local and peer address
 * (the state column is absent when one state was asked for); with -i an indented line follows,
 * where `bytes_received:` is left out while it is 0.
 */
export function parseSs(out: string): SocketQueues[] {
  const sockets: SocketQueues[] = [];
  for (const line of out.split('\n')) {
    if (/^\s/.test(line) && sockets.length) {
      const last = sockets[sockets.length - 1] as SocketQueues;
      last.bytesReceived = Number(/\bbytes_received:(\d+)/.exec(line)?.[1] ?? 0);
      continue;
    }
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [recvQ, sendQ, local, peer] = f.slice(-4) as [string, string, string, string];
    const q: SocketQueues = { local, peer, recvQ: Number(recvQ), sendQ: Number(sendQ) };
    if (f.length > 4) q.state = f[0];
    if (Number.isFinite(q.recvQ) && Number.isFinite(q.sendQ)) sockets.push(q);
  }
  return sockets;
}

/** IPv4 address of an `a.b.c.d:port` socket address. */
const addressOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));

/**
 * A connection whose client has not sent its first byte yet: the handshake is done (or about to
 * be) and the request follows within moments. After a hand-over that request would reach the new
 * holder, which resets it; so it counts as running. A pooled connection that already carried a
 * request and sits idle does not (its client may never use it again).
 */
const awaitingFirstRequest = (q: SocketQueues) => q.state === 'SYN-RECV' || (q.state === 'ESTAB' && q.bytesReceived === 0);

/** Connections on `addresses` (any of `ports`) with data not yet read or not yet acknowledged, or whose client is yet to send its request. */
export async function unsettledConnections(addresses: readonly string[], ports: readonly number[], runner: Runner = run): Promise<SocketQueues[]> {
  const filter = `( ${ports.map((p) => `sport = :${p}`).join(' or ')} )`;
  // "connected" leaves out SYN-RECV: handshakes begun before the hold are asked for by name.
  const r = await runner(['ss', '-Htni', 'state', 'connected', 'state', 'syn-recv', filter]);
  const mine = new Set(addresses);
  return parseSs(r.stdout).filter((q) => mine.has(addressOf(q.local)) && (q.recvQ > 0 || q.sendQ > 0 || awaitingFirstRequest(q)));
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
