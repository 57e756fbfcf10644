// start(spec, options): a tree, with the ways into it that run beside it when asked for — the admin HTTP endpoint
// (probes, metrics) and systemd's notify socket. They are attached before the first child starts and only read
// the tree's events and status.
import type { AdminOptions } from './admin/server.js';
import { createTree, type StartOptions as TreeOptions, type Tree, type TreeMessages } from './supervisor/tree.js';
import type { Messages, SupervisorSpec } from './types.js';
import { SystemdNotifier, takeNotifyEnvironment } from './systemd/notify.js';

/** Options of `start(spec, options)`: those of `createTree`, and the ways into the tree that run beside it. */
export interface StartOptions extends TreeOptions {
  /** Serve /healthz, /readyz, /metrics and /tree on this address (off by default). */
  admin?: AdminOptions;
  /**
   * Talk to systemd when NOTIFY_SOCKET is set: READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1
   * (`arbor run` does). Off by default for an embedded tree, whose host process decides when it is ready.
   */
  notify?: boolean;
  /**
   * Aborting it while the tree starts stops starting: the children started so far are stopped (each as its shutdown
   * value says), no other is started, and start() rejects with a StartFailure. After the start it does nothing.
   */
  signal?: AbortSignal;
}

/** Validates the spec, opens the admin endpoint if asked, starts every child in order; resolves when all run. */
export async function start<M extends Messages>(
  spec: SupervisorSpec<M>,
  options: StartOptions = {},
): Promise<Tree<TreeMessages<M>>> {
  const { admin: adminOptions, notify, signal, ...treeOptions } = options;
  const notifyConfig = notify ? takeNotifyEnvironment() : undefined;
  const tree = createTree(spec, treeOptions);
  // Loaded only when asked for: its metrics library would otherwise add ~5 MiB to every supervisor, and each fork of
  // a worker copies the supervisor's page tables (a larger supervisor forks slower).
  const admin = adminOptions
    ? await (await import('./admin/server.js')).AdminServer.open(tree, adminOptions)
    : undefined;
  if (admin) tree.logger.info({ event: 'admin_listening', address: `${admin.address.host}:${admin.address.port}` });
  const notifier = notifyConfig ? SystemdNotifier.attach(tree, notifyConfig, tree.logger) : undefined;
  const stopStarting = (): void => void tree.stop();
  signal?.addEventListener('abort', stopStarting, { once: true });
  try {
    if (signal?.aborted) stopStarting();
    await tree.start();
  } catch (error) {
    admin?.close();
    notifier?.close();
    throw error;
  } finally {
    signal?.removeEventListener('abort', stopStarting);
  }
  admin?.started();
  notifier?.ready();
  if (admin) void tree.done.then(() => admin.close());
  return tree;
}
