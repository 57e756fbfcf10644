// Epoch milliseconds with sub-ms precision, comparable with the launchers' and workers' timestamps.
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
