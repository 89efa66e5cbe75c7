// The batch split's helper thread for in-process benchmarks: the built worker (dist/worker.js) in helper mode.
import { Worker } from 'node:worker_threads';
import type { SpawnHelper } from '../src/core/split-protocol';

export function helperSpawner(workerJs: string): SpawnHelper {
  return (init) => {
    const w = new Worker(workerJs, { workerData: { helper: init }, execArgv: [] });
    w.unref();
    return { terminate: () => void w.terminate() };
  };
}
