// The node side of the calls bench (cluster or fork): answers every message with the same object, as a
// hand-written worker.send/process.on('message') protocol would (the primary matches replies by their id).
process.on('message', (message) => process.send(message));
// 'online' comes before an ES module has run: say when messages have a listener.
process.send({ listening: true });
