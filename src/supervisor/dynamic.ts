// simple_one_for_one's dynamic children: how one is made from the template, and which ids a pool has handed out.
import type { ChildSpec, HostedTaskSpec, SupervisorSpec, TaskSpec, WorkerSpec } from '../types.js';

export type Template = WorkerSpec | SupervisorSpec | TaskSpec | HostedTaskSpec;

/** Dynamic children are named `<template id>-<n>`, n counting from 1 in each incarnation of the pool. */
export const dynamicId = (template: Template, n: number): string => `${template.id}-${n}`;

/**
 * The spec of dynamic child number `n`: the template, renamed, with startChild's extra args appended to the args of
 * every worker it holds (as OTP appends them to the template's start arguments). For a subtree template, that is
 * every worker of the subtree, nested supervisors' children and templates included.
 */
export function instantiate(template: Template, n: number, extraArgs: readonly string[]): ChildSpec {
  const id = dynamicId(template, n);
  // A worker or task: one copy of the template (thousands of light children start from it).
  if (template.type !== 'supervisor') return { ...template, args: [...template.args, ...extraArgs], id };
  return { ...withExtraArgs(template, extraArgs), id };
}

function withExtraArgs<S extends ChildSpec>(spec: S, extraArgs: readonly string[]): S;
function withExtraArgs(spec: ChildSpec, extraArgs: readonly string[]): ChildSpec {
  switch (spec.type) {
    case 'worker':
    case 'task':
      return { ...spec, args: [...spec.args, ...extraArgs] };
    case 'listener':
      return spec;
    case 'supervisor':
      return {
        ...spec,
        children: spec.children.map((child) => withExtraArgs(child, extraArgs)),
        ...(spec.template ? { template: withExtraArgs(spec.template, extraArgs) } : {}),
      };
  }
}

/** Whether the pool handed out `id` in this incarnation: `<template id>-<n>` with 1 ≤ n ≤ the last n it used. */
export function handedOut(template: Template, id: string, lastN: number): boolean {
  const prefix = `${template.id}-`;
  if (!id.startsWith(prefix)) return false;
  const n = id.slice(prefix.length);
  return /^[1-9][0-9]{0,15}$/.test(n) && Number(n) <= lastN;
}
