export interface Workload {
  input: number;
  hidden: number[];
  classes: number;
  batch: number;
  stats: boolean;
  /** Default sgd, no clipping. */
  optimizer?: 'sgd' | 'momentum';
  clip?: number;
  note: string;
}
export const WORKLOADS: Record<'W1' | 'W2' | 'W3' | 'W4' | 'W5', Workload>;
export function flopsPerStep(w: Workload): number;
export function measure(step: () => unknown, seconds?: number): Promise<number>;
