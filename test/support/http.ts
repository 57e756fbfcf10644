// Test support: HTTP clients for drain and reload scenarios (keep-alive and a new connection per request).
import http from 'node:http';

export interface Answer {
  status?: number;
  body?: string;
  /** The response's Connection header. */
  connection?: string;
  /** The error code when no response came (ECONNRESET, ECONNREFUSED, TIMEOUT, ...). */
  error?: string;
}

/** One GET; `agent` false for a new connection, or a keep-alive agent. */
export function get(port: number, path = '/', agent: http.Agent | false = false, timeoutMs = 20_000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

export const pidOf = (answer: Answer): number | undefined =>
  answer.body ? Number(answer.body.split(' ')[0]) : undefined;
export const versionOf = (answer: Answer): string | undefined => answer.body?.split(' ')[1];

/**
 * Clients sending requests back to back until stopped, half on keep-alive connections and half on a new
 * connection each: every answer is kept, failures included.
 */
export function clientLoop(port: number, clients: number, path = '/slow?ms=50'): { stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let running = true;
  const agents: http.Agent[] = [];
  const loops = Array.from({ length: clients }, async (_, i) => {
    const agent = i % 2 === 0 ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    if (agent) agents.push(agent);
    while (running) answers.push(await get(port, path, agent));
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
      return answers;
    },
  };
}

export const failures = (answers: Answer[]): Answer[] => answers.filter((a) => a.status !== 200);
