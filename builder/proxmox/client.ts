// A connected Proxmox client: the typed API plus task handling over one HTTP connection pool.
import { ProxmoxApi } from './api.js';
import type { ConnectionSettings } from './connection.js';
import { ProxmoxHttp } from './http.js';
import type { RetryPolicy } from './retry.js';
import { TaskRunner, type WaitOptions } from './tasks.js';

export interface ClientOptions {
  retry?: RetryPolicy;
  tasks?: Required<WaitOptions>;
  onRetry?: (message: string) => void;
}

export interface ProxmoxClient {
  api: ProxmoxApi;
  tasks: TaskRunner;
  close(): Promise<void>;
}

export async function connect(settings: ConnectionSettings, opts: ClientOptions = {}): Promise<ProxmoxClient> {
  const http = await ProxmoxHttp.open({ ...settings, retry: opts.retry, onRetry: opts.onRetry });
  const api = new ProxmoxApi(http);
  return { api, tasks: new TaskRunner(api, opts.tasks), close: () => http.close() };
}
