// How requests prove who they are: an API token header (the normal case for automation), or a
// ticket from /access/ticket (user + password) sent as cookie, with the CSRF token on writes.

export type Credentials =
  | { kind: 'token'; /** `user@realm!tokenid` */ tokenId: string; secret: string }
  | { kind: 'password'; /** `user@realm` */ username: string; password: string };

/** `user@realm!tokenid=secret` (PROXMOX_TOKEN) → token credentials; undefined when malformed. */
export function parseToken(text: string): Extract<Credentials, { kind: 'token' }> | undefined {
  const m = /^([^@!=\s]+@[^@!=\s]+)!([A-Za-z][A-Za-z0-9._-]*)=(\S+)$/.exec(text.trim());
  return m ? { kind: 'token', tokenId: `${m[1]}!${m[2]}`, secret: m[3] as string } : undefined;
}

/** Who the requests run as, for messages (never includes the secret). */
export function identity(c: Credentials): string {
  return c.kind === 'token' ? `API token ${c.tokenId}` : `user ${c.username}`;
}

export interface Ticket {
  ticket: string;
  CSRFPreventionToken: string;
}

/** Tickets live two hours; renew well before so a long rollout never sends an expired one. */
const TICKET_RENEW_MS = 90 * 60 * 1000;

export class Authenticator {
  private ticket?: { value: Ticket; obtainedAt: number };

  constructor(
    readonly credentials: Credentials,
    private readonly login: (username: string, password: string) => Promise<Ticket>,
    private readonly now: () => number = Date.now,
  ) {}

  async headers(method: string): Promise<Record<string, string>> {
    const c = this.credentials;
    if (c.kind === 'token') return { authorization: `PVEAPIToken=${c.tokenId}=${c.secret}` };
    if (!this.ticket || this.now() - this.ticket.obtainedAt > TICKET_RENEW_MS) {
      this.ticket = { value: await this.login(c.username, c.password), obtainedAt: this.now() };
    }
    const { ticket, CSRFPreventionToken } = this.ticket.value;
    return {
      cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}`,
      ...(method === 'GET' ? {} : { csrfpreventiontoken: CSRFPreventionToken }),
    };
  }

  /** Forget the ticket (the server refused it); the next request logs in again. */
  reset(): void {
    this.ticket = undefined;
  }
}
