// One GET on a fresh connection (no keep-alive agent), classified the way the restart tables count it.
import http from 'node:http';
import { now } from './clock.js';

/** 'ok' | 'refused' | 'reset' | 'timeout' | 'other:<code>' */
export function classify(err) {
  switch (err?.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ABORT_ERR':
      return 'aborted';
    default:
      return `other:${err?.code ?? err?.message ?? 'unknown'}`;
  }
}

/** Resolves (never rejects) with { outcome, start, end, status }. */
export function get(port, { timeoutMs = 3000, path = '/', signal } = {}) {
  const start = now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome, status) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ outcome, start, end: now(), status });
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, signal }, (res) => {
      res.on('data', () => {});
      res.on('end', () => settle(res.statusCode === 200 ? 'ok' : `other:http_${res.statusCode}`, res.statusCode));
      res.on('error', (err) => settle(classify(err)));
    });
    req.on('error', (err) => settle(classify(err)));
    const timer = setTimeout(() => {
      settle('timeout');
      req.destroy();
    }, timeoutMs);
  });
}
