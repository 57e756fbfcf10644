// arbor: Erlang/OTP-style supervision trees for Node.js.
export { createTree, start, Tree } from './supervisor/tree.js';
export type { TreeEventListener, TreeEventListeners, TreeMessages, WorkerMessageEvent, StartOptions, ChildInfo, ChildCounts, ListenerInfo, SupervisorStatus } from './supervisor/tree.js';
export { supervisor, worker, listener } from './supervisor/spec.js';
export type { WorkerOptions, ListenerOptions, SupervisorOptions, TypedChildSpec } from './supervisor/spec.js';
export { SpecError, validateSpec } from './supervisor/validate.js';
export type { SpecProblem } from './supervisor/validate.js';
export { CallError } from './call-error.js';
export type { CallErrorCode } from './call-error.js';
export type { CallOptions, CastOptions, Pick } from './supervisor/messages.js';
export type { TreeEvent, TreeEventName } from './supervisor/events.js';
export { EventOverflowError } from './supervisor/event-stream.js';
export type { EventStreamOptions } from './supervisor/event-stream.js';
export { StartFailure } from './child.js';
export { ReloadError } from './reload/index.js';
export type { ReloadEvent, ReloadOptions, ReloadProgress, ReloadResult } from './reload/index.js';
export * from './types.js';
