// start(spec, options): a tree, with the ways into it that run beside it when asked for — the admin HTTP endpoint
// (probes, metrics) and systemd's notify socket. They are attached before the first child starts and only read
// the tree's events and status.
import { AdminServer, type AdminOptions } from './admin/server.js';
import { createTree, type StartOptions as TreeOptions, type Tree } from './supervisor/tree.js';
import { SystemdNotifier, takeNotifyEnvironment } from './systemd/notify.js';

export interface StartOptions extends TreeOptions {
  /** Serve /healthz, /readyz, /metrics and /tree on this address (off by default). */
  admin?: AdminOptions;
  /**
   * Talk to systemd when NOTIFY_SOCKET is set: READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1
   * (`arbor run` does). Off by default for an embedded tree, whose host process decides when it is ready.
   */
  notify?: boolean;
}

/** Validates the spec, opens the admin endpoint if asked, starts every child in order; resolves when all run. */
export async function start(spec: Parameters<typeof createTree>[0], options: StartOptions = {}): Promise<Tree> {
  const { admin: adminOptions, notify, ...treeOptions } = options;
  const notifyConfig = notify ? takeNotifyEnvironment() : undefined;
  const tree = createTree(spec, treeOptions);
  const admin = adminOptions ? await AdminServer.open(tree, adminOptions) : undefined;
  if (admin) tree.logger.info({ event: 'admin_listening', address: `${admin.address.host}:${admin.address.port}` });
  const notifier = notifyConfig ? SystemdNotifier.attach(tree, notifyConfig, tree.logger) : undefined;
  try {
    await tree.start();
  } catch (error) {
    admin?.close();
    notifier?.close();
    throw error;
  }
  admin?.started();
  notifier?.ready();
  if (admin) void tree.done.then(() => admin.close());
  return tree;
}
