// `arbor-otp/chaos`: the chaos kit as a library, for CI scripts and for comparing other process managers.
/**
 * The chaos kit behind `arbor chaos`, as a library: {@link runChaos} drives HTTP load at a running tree while it
 * injects faults into its workers, and reports what clients saw; {@link writeHtmlReport} draws runs over time.
 *
 * @module arbor-otp/chaos
 */
export { runChaos, ChaosError } from './run.js';
export type { ChaosOptions } from './run.js';
export { renderReport } from './report.js';
export type { ChaosReport } from './report.js';
export { renderHtmlReport, writeHtmlReport } from './html/render.js';
export type { ReportRun } from './html/render.js';
export type { ChaosTimeline, RestartSpan, TimelineBuckets, TimelineFault } from './timeline.js';
export { ArborTarget } from './target.js';
export type { ChaosTarget, IpcFault, TargetEvents, WorkerRef, WorkerRefKind } from './target.js';
export type { LoggedEvent } from '../control/event-log.js';
export { FAILURE_KINDS } from './load.js';
export type { FailureKind } from './load.js';
export { FAULT_KINDS, parseMix, parseDuration, planFaults } from './plan.js';
export type { FaultKind, FaultMix, MixEntry, PlanOptions, PlannedFault } from './plan.js';
export { findOrphans } from './orphans.js';
export type { OrphanProcess } from './orphans.js';
export type { ProcStats } from '../control/client.js';
