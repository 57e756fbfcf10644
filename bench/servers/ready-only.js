// Floor for a forked worker: an ESM module that only tells its parent it is up, then exits.
process.send({ type: 'up' }, () => process.exit(0));
