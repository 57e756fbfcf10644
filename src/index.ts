// arbor: Erlang/OTP-style supervision trees for Node.js.
export { createTree, start, Tree } from './supervisor/tree.js';
export type { TreeEventListener, TreeEventListeners, StartOptions, ChildInfo, ChildCounts, ListenerInfo, SupervisorStatus } from './supervisor/tree.js';
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
export * from './types.js';
