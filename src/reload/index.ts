// Rolling reload, beside the supervisor: src/reload/reloader.ts orchestrates, plan.ts decides the order.
export { Reloader, ReloadError, type ReloadOptions, type ReloadProgress, type ReloadResult, type ReloadTarget } from './reloader.js';
export type { ReloadEvent } from './events.js';
