// arbor: Erlang/OTP-style supervision trees for Node.js.
export { createTree, Tree } from './supervisor/tree.js';
export { start } from './start.js';
export type { StartOptions } from './start.js';
export type { AdminOptions } from './admin/server.js';
export type { TreeEventListener, TreeEventListeners, ChildInfo, ChildCounts, ListenerInfo, SupervisorStatus } from './supervisor/tree.js';
export { supervisor, worker, listener } from './supervisor/spec.js';
export type { WorkerOptions, ListenerOptions, SupervisorOptions } from './supervisor/spec.js';
export { SpecError, validateSpec } from './supervisor/validate.js';
export type { SpecProblem } from './supervisor/validate.js';
export { CallError } from './supervisor/calls.js';
export type { CallErrorCode } from './supervisor/calls.js';
export type { TreeEvent, TreeEventName } from './supervisor/events.js';
export { EventOverflowError } from './supervisor/event-stream.js';
export type { EventStreamOptions } from './supervisor/event-stream.js';
export { StartFailure } from './child.js';
export { ReloadError } from './reload/index.js';
export type { ReloadEvent, ReloadOptions, ReloadProgress, ReloadResult } from './reload/index.js';
export * from './types.js';
