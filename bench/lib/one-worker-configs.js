// The configurations compared with one worker (crash→serving and refused tables): the same list for both.
export const oneWorkerConfigs = [
  { name: 'arbor shared', script: 'arbor.js', args: ['shared', 1] },
  { name: 'arbor round_robin', script: 'arbor.js', args: ['round_robin', 1] },
  { name: 'arbor shared + standby', script: 'arbor.js', args: ['shared', 1, 'warm'] },
  { name: 'arbor shared + hot standby', script: 'arbor.js', args: ['shared', 1, 'hot'] },
  { name: 'cluster SCHED_RR (re-fork on exit)', script: 'cluster.js', args: ['rr', 1] },
  { name: 'cluster SCHED_NONE (re-fork on exit)', script: 'cluster.js', args: ['none', 1] },
];
