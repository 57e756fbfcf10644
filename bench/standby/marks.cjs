// Preloaded (NODE_OPTIONS=--require) into the probe's launcher, its workers and its spares: appends one JSON line
// per event of interest to $STANDBY_MARKS_FILE, timed on CLOCK_MONOTONIC (process.hrtime), which is the same clock
// in every process of the machine. Supervisor side: a worker's `disconnect` / `exit` / `close`, the takeover
// messages sent, forks, the tree's events as the launcher reports them. Worker side: messages received, the
// server's `listening`, `connection`, `request`, the response's `finish`.
'use strict';
const { appendFileSync } = require('node:fs');
const childProcess = require('node:child_process');
const net = require('node:net');

const file = process.env.STANDBY_MARKS_FILE;
const at = () => Number(process.hrtime.bigint()) / 1e6;
function mark(what, extra) {
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ t: at(), pid: process.pid, what, ...extra })}\n`);
}

if (process.env.ARBOR_WORKER === '1') {
  const emit = process.emit;
  process.emit = function (event, message, ...rest) {
    if (event === 'message' && typeof message?.type === 'string') mark(`msg:${message.type}`);
    if (event === 'disconnect') mark('disconnect');
    return emit.call(this, event, message, ...rest);
  };
  const send = process.send;
  if (typeof send === 'function') {
    process.send = function (message, ...rest) {
      if (typeof message?.type === 'string' && message.type !== 'arbor:batch') mark(`send:${message.type}`);
      return send.call(this, message, ...rest);
    };
  }
  const serverEmit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (event, ...args) {
    if (event === 'listening' || event === 'connection') mark(event);
    if (event === 'request') {
      mark('request');
      args[1]?.once?.('finish', () => mark('finish'));
    }
    return serverEmit.call(this, event, ...args);
  };
} else {
  const { ChildProcess } = childProcess;
  const emit = ChildProcess.prototype.emit;
  ChildProcess.prototype.emit = function (event, ...args) {
    if (event === 'disconnect' || event === 'exit' || event === 'close') mark(`sup:${event}`, { child: this.pid });
    if (event === 'message' && typeof args[0]?.type === 'string' && args[0].type.startsWith('arbor:')) {
      mark(`sup:got:${args[0].type}`, { child: this.pid });
    }
    return emit.call(this, event, ...args);
  };
  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function (...args) {
    const result = spawn.apply(this, args);
    mark('sup:forked', { child: this.pid });
    // send() is set on each instance once its channel is open.
    const send = this.send;
    if (typeof send === 'function') {
      this.send = function (message, ...rest) {
        if (typeof message?.type === 'string' && message.type.startsWith('arbor:') && message.type !== 'arbor:batch') {
          mark(`sup:send:${message.type}`, { child: this.pid });
        }
        return send.call(this, message, ...rest);
      };
    }
    return result;
  };
  if (typeof process.send === 'function') {
    const report = process.send;
    process.send = function (message, ...rest) {
      if (message?.type === 'event') mark(`sup:event:${message.name}`, { child: message.pid });
      return report.call(this, message, ...rest);
    };
  }
}
