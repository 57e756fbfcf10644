// arbor: Erlang/OTP-style supervision trees for Node.js.
export { start, Tree } from './supervisor/tree.js';
export type { StartOptions, ChildInfo, ChildCounts, ListenerInfo, SupervisorStatus } from './supervisor/tree.js';
export { supervisor, worker, listener } from './supervisor/spec.js';
export type { WorkerOptions, ListenerOptions, SupervisorOptions } from './supervisor/spec.js';
export { SpecError, validateSpec } from './supervisor/validate.js';
export type { SpecProblem } from './supervisor/validate.js';
export { CallError } from './supervisor/calls.js';
export type { CallErrorCode } from './supervisor/calls.js';
export type { TreeEvent, TreeEventName } from './supervisor/events.js';
export { StartFailure } from './child.js';
export * from './types.js';
