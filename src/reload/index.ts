// Reload, beside the supervisor: reloader.ts orchestrates; spec-plan.ts decides what a new spec changes and
// apply-spec.ts carries it out; plan.ts decides the order of the rolling replacement of workers.
export {
  Reloader,
  ReloadError,
  type ReloadErrorCode,
  type ReloadOptions,
  type ReloadProgress,
  type ReloadResult,
  type ReloadTarget,
} from './reloader.js';
export type { ReloadEvent } from './events.js';
export { planSpecChange, describeStep, type SpecPlan, type SpecStep } from './spec-plan.js';
