// The task bench/light/hosts.js runs in its hosts: it answers calls and waits for its stop.
export default function idle({ signal, onMessage }) {
  onMessage((message) => message);
  return new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}
