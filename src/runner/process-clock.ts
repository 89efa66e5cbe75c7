/**
 * The CPU time this process has used, over all its threads (the training thread, the split's
 * helper, V8's compiler and GC threads), in milliseconds: the adaptive split compares it with the
 * wall clock to tell whether both cores were the process's own (core/split-governor.ts).
 */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
