// arbor: Erlang/OTP-style supervision trees for Node.js.
/**
 * Erlang/OTP supervision trees for Node.js. A tree is a spec built with {@link supervisor}, {@link worker} and
 * {@link listener}; {@link createTree} validates it and {@link Tree.start} runs it (or {@link start}, both at once).
 * The running {@link Tree} is looked at (`status`, `whichChildren`), changed as OTP's supervisor calls do
 * (`startChild`, `terminateChild`, …), talked to (`call`, `cast`, `on`, `events`) and stopped (`stop`).
 * The guides are in docs/ (docs/README.md).
 *
 * @module arbor-otp
 */
export { createTree, Tree } from './supervisor/tree.js';
export type { StartOptions as TreeOptions, ChildrenPage } from './supervisor/tree.js';
export { start } from './start.js';
export type { StartOptions } from './start.js';
export type { AdminOptions } from './admin/server.js';
export type {
  TreeEventListener,
  TreeEventListeners,
  TreeMessages,
  WorkerMessageEvent,
  ChildInfo,
  ChildCounts,
  ListenerInfo,
  SupervisorStatus,
} from './supervisor/tree.js';
export { supervisor, worker, listener, task } from './supervisor/spec.js';
export type {
  WorkerOptions,
  ListenerOptions,
  SupervisorOptions,
  TaskOptions,
  HostedTaskOptions,
  TypedChildSpec,
} from './supervisor/spec.js';
export type { HostPlacement } from './host/hosted.js';
export type { HostInfo, HostPoolStatus, HostRestarts } from './host/host-pool.js';
export { SpecError, validateSpec } from './supervisor/validate.js';
export type { SpecProblem } from './supervisor/validate.js';
export type { SpareShelfInfo } from './worker/standby.js';
export type { LogsOptions, FollowedLine } from './worker/output-stream.js';
export type { LoggedLine } from './worker/output-log.js';
export type { OutputLine, OutputStream } from './worker/output.js';
export type { ChildStatus } from './supervisor/children.js';
export { CallError } from './call-error.js';
export type { CallErrorCode } from './call-error.js';
export type { CallOptions, CastOptions, Pick } from './supervisor/messages.js';
export type {
  TreeEvent,
  TreeEventName,
  ExitAction,
  ChildEventBase,
  SupervisorStartedEvent,
  SupervisorStoppedEvent,
  ChildStartedEvent,
  ChildExitedEvent,
  ChildTerminatedEvent,
  ChildDrainedEvent,
  StartFailedEvent,
  ChildRestartingEvent,
  ChildRestartDelayedEvent,
  MaxIntensityReachedEvent,
  AutoShutdownEvent,
  InternalErrorEvent,
  TreeStoppingEvent,
  WorkerSentEvent,
  DrainDelayEvent,
} from './supervisor/events.js';
export { EventOverflowError } from './supervisor/event-stream.js';
export type { EventStreamOptions } from './supervisor/event-stream.js';
export { StartFailure } from './child.js';
export { ReloadError } from './reload/index.js';
export type { ReloadErrorCode } from './reload/reloader.js';
export type { ReloadEvent, ReloadOptions, ReloadProgress, ReloadResult } from './reload/index.js';
export type {
  ReloadStartedEvent,
  ChildReplacedEvent,
  ReloadFinishedEvent,
  ReloadFailedEvent,
  SpecAppliedEvent,
  ReloadRefusedEvent,
} from './reload/events.js';
export * from './types.js';
