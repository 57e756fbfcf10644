// Where a path sits in the spec: the ids of dynamic children (simple_one_for_one) replaced by `*`, so that labels
// and counts follow the spec's shape, whatever the number of children a pool runs. Pure, from the spec alone.
import type { SupervisorSpec } from '../types.js';

export class PathTemplates {
  /** Template paths of the simple_one_for_one supervisors (`root/jobs`, `root/jobs/*\/inner`, …). */
  private readonly dynamic = new Set<string>();

  constructor(spec: Pick<SupervisorSpec, 'id'> & Partial<Pick<SupervisorSpec, 'strategy' | 'children' | 'template'>>) {
    this.collect(spec, spec.id);
  }

  /** `root/jobs/job-7/inner` → `root/jobs/*\/inner` when `root/jobs` is a simple_one_for_one supervisor. */
  template(path: string): string {
    if (this.dynamic.size === 0) return path;
    const segments = path.split('/');
    let out = segments[0]!;
    for (let i = 1; i < segments.length; i++) out += this.dynamic.has(out) ? '/*' : `/${segments[i]}`;
    return out;
  }

  /** The supervisor at `path` (a real path) starts its children from a template. */
  isDynamic(path: string): boolean {
    return this.dynamic.size > 0 && this.dynamic.has(this.template(path));
  }

  /** `path` (a real path) lies inside a dynamic child: its template holds a `*`. */
  insideDynamic(path: string): boolean {
    return this.dynamic.size > 0 && this.template(path).includes('/*');
  }

  private collect(spec: Partial<Pick<SupervisorSpec, 'strategy' | 'children' | 'template'>>, path: string): void {
    if (spec.strategy === 'simple_one_for_one') {
      this.dynamic.add(path);
      if (spec.template?.type === 'supervisor') this.collect(spec.template, `${path}/*`);
      return;
    }
    for (const child of spec.children ?? [])
      if (child.type === 'supervisor') this.collect(child, `${path}/${child.id}`);
  }
}
