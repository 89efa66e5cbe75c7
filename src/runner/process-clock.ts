import { cpus } from 'node:os';

/**
 * The CPU time this process has used, over all its threads (the training thread, the split's
 * helper, V8's compiler and GC threads), in milliseconds: the adaptive split compares it with the
 * wall clock to tell whether both cores were the process's own (core/split-governor.ts).
 */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The machine's idle CPU time, summed over its cores, in milliseconds (the kernel's ticks, 10 ms
 * on Linux): the adaptive split reads it while it runs on one thread to see whether another
 * process holds the second core, instead of probing (core/split-governor.ts); NaN where the host
 * lists no cores. ~0.1 ms a call.
 */
export function machineIdleMs(): number {
  const all = cpus();
  let idle = 0;
  for (const c of all) idle += c.times.idle;
  // (no cores listed, as where /proc is not readable: unknown, and the split probes as before)
  return all.length > 0 ? idle : NaN;
}
