// Message types declared once and checked at both ends: `npm test` type-checks this file (tsc), so a
// `@ts-expect-error` that stops being an error fails the suite.
import { describe, expectTypeOf, it } from 'vitest';
import { createTree, start, supervisor, worker, type Messages, type Tree } from '../src/index.js';
import { onMessage, send } from '../src/runtime/runtime.js';

interface Job {
  id: number;
  input: string;
}
interface JobResult {
  id: number;
  output: string;
}
interface Progress {
  id: number;
  percent: number;
}
interface JobMessages extends Messages {
  call: Job;
  reply: JobResult;
  cast: never;
  send: Progress;
}

const MODULE = new URL('./fixtures/messages.mjs', import.meta.url).pathname;

describe('typed messages', () => {
  it('the spec builders carry the types to the tree', () => {
    const typed = supervisor({
      children: [supervisor({ id: 'pool', children: [worker<JobMessages>({ id: 'w', module: MODULE })] })],
    });
    expectTypeOf(createTree(typed)).toEqualTypeOf<Tree<JobMessages>>();
    expectTypeOf(
      createTree(supervisor<JobMessages>({ children: [worker({ id: 'w', module: MODULE })] })),
    ).toEqualTypeOf<Tree<JobMessages>>();
    // start() keeps them as createTree does (it is what most programs call).
    expectTypeOf(start(typed)).toEqualTypeOf<Promise<Tree<JobMessages>>>();
    // Untyped specs make an untyped tree.
    expectTypeOf(start(supervisor({ children: [worker({ id: 'w', module: MODULE })] }))).toEqualTypeOf<
      Promise<Tree<Messages>>
    >();
    expectTypeOf(createTree(supervisor({ children: [worker({ id: 'w', module: MODULE })] }))).toEqualTypeOf<
      Tree<Messages>
    >();

    // Never called: only compiled.
    const checks = async (tree: Tree<JobMessages>) => {
      expectTypeOf(await tree.call('root/pool', { id: 1, input: 'a' })).toEqualTypeOf<JobResult>();
      // @ts-expect-error a call must be a Job
      await tree.call('root/pool', { id: 'one' });
      // @ts-expect-error this worker takes no casts
      tree.cast('root/pool', { id: 1, input: 'a' });
      tree.on('worker_message', (e) => expectTypeOf(e.message).toEqualTypeOf<Progress>());
    };
    void checks;
  });

  it('onMessage and send check the worker’s side against the same declaration', () => {
    const workerSide = () => {
      onMessage<JobMessages>(async (job) => ({ id: job.id, output: job.input.toUpperCase() }));
      // @ts-expect-error the reply must be a JobResult
      onMessage<JobMessages>((job) => ({ id: job.id }));
      send<JobMessages>({ id: 1, percent: 50 });
      // @ts-expect-error progress has a percent
      send<JobMessages>({ id: 1 });
    };
    void workerSide;
  });
});
