/**
 * Command-line arguments of `layerwise`. Bad arguments are usage errors (exit 2) with a message
 * that says what is allowed.
 */
import { didYouMean } from '../modelfile/problems';

export interface CliArgs {
  command: 'run' | 'analyze' | 'watch' | 'help' | 'version';
  file: string;
  steps?: number;
  every?: number;
  /** Histogram events every K steps (0: none); default the model file's diagnostics.histogramsEvery. */
  histogramsEvery?: number;
  /** λmax every K steps (0: none); default the model file's diagnostics.sharpnessEvery. */
  sharpnessEvery?: number;
  seed?: number;
  json: boolean;
  html?: string;
  maxMemoryMb?: number;
  kernels?: 'auto' | 'wasm' | 'simd' | 'ts';
  /** 1, 2, or 'auto' (the default: two threads while the split pays, as measured). */
  threads?: number | 'auto';
  splitMinFlops?: number;
  quiet: boolean;
  /** watch: keep reading the log as it grows, until its `end` or Ctrl-C. */
  follow?: boolean;
  /** watch: other logs, side by side with it at the end (the table, and overlaid in --html). */
  compare?: string[];
  /** --html may replace an existing file that is not a Layerwise report. */
  force?: boolean;
}

export class UsageError extends Error {}

const OPTIONS = [
  '--steps',
  '--every',
  '--histograms-every',
  '--sharpness-every',
  '--seed',
  '--json',
  '--html',
  '--max-memory-mb',
  '--kernels',
  '--threads',
  '--split-min-flops',
  '--force',
  '--follow',
  '--compare',
  '--quiet',
  '--help',
];

export const USAGE = `usage: layerwise run FILE [--steps N] [--every K] [--seed S] [--json] [--html OUT.html]
       layerwise analyze FILE [--json] [--html OUT.html]
       layerwise watch LOG [--follow] [--json] [--html OUT.html] [--compare OTHER.jsonl ...]

  run       train the model of FILE (*.mlp.json) and report per-layer statistics and warnings
  analyze   predict per-layer variances (mean field), measure one pass, report static warnings
  watch     read a training log (*.layerwise.jsonl, e.g. from the layerwise_torch package): the
            table and the detectors' warnings of "run"; --follow tails it until its end

options:
  --steps N          override training.steps
  --every K          emit every K-th step event (default 1 with --json)
  --histograms-every K  histograms of Z, f(Z) and ∂L/∂Z every K steps (default: the model file's
                     diagnostics.histogramsEvery, 10; 0: none)
  --sharpness-every K  λmax of the loss's Hessian every K steps against the divergence threshold
                     (default: the model file's diagnostics.sharpnessEvery, 0: none)
  --seed S           override the model's seed
  --json             one JSON event per line (ND-JSON) on stdout
  --html OUT.html    also write a self-contained HTML report with the charts (opens offline);
                     never over the model, its data or weights; over another existing file
                     only if it is a Layerwise report, or with --force
  --max-memory-mb M  refuse models estimated to need more memory (default 2048)
  --kernels K        auto (default): the fastest available (native AVX-512 products where
                     built and supported, else WebAssembly); wasm: WebAssembly SIMD;
                     simd: WebAssembly SIMD without fused multiply-add; ts: pure TypeScript
  --threads N        auto (default): split each step's batch over two threads while that is
                     measured to pay (2 or more cores); 2: split every step that can be; 1: one
  --split-min-flops F  with 2 threads, split only steps of at least F flops (default 8e6;
                     0 splits every step, e.g. to compare the split on a small net)
  --force            let --html replace an existing file that is not a Layerwise report
  --follow           watch: keep reading as the log grows, until its end event or Ctrl-C
                     (a log not written yet is waited for)
  --compare OTHER    watch: another log's last run beside LOG's at the end: a table of both
                     (steps, loss, ‖g‖, dead units, warnings), and in --html its loss, ‖g‖ and
                     dead units drawn over LOG's; repeat it for more logs
  --quiet            no progress bar
exit codes: 0 done, 2 invalid model file, log or arguments, 3 run ended by non-finite values, 1 internal error`;

function intArg(flag: string, v: string | undefined, min: number): number {
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number ≥ ${min}, not "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, not "${v}"`);
  return n;
}

export function parseArgs(argv: readonly string[]): CliArgs {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw new UsageError('a command is needed: "run", "analyze" or "watch"');
  if (cmd === '--help' || cmd === '-h' || cmd === 'help')
    return { command: 'help', file: '', json: false, quiet: false };
  if (cmd === '--version' || cmd === '-v') return { command: 'version', file: '', json: false, quiet: false };
  if (cmd !== 'run' && cmd !== 'analyze' && cmd !== 'watch')
    throw new UsageError(`unknown command "${cmd}"; use "run", "analyze" or "watch"`);
  const a: CliArgs = { command: cmd, file: '', json: false, quiet: false };
  let file: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string | undefined => inline ?? rest[++i];
    switch (flag) {
      case '--steps':
        a.steps = intArg(flag, value(), 1);
        if (a.steps > 1e8) throw new UsageError('--steps must be at most 100000000 (as training.steps)');
        break;
      case '--every':
        a.every = intArg(flag, value(), 1);
        break;
      case '--histograms-every':
        a.histogramsEvery = intArg(flag, value(), 0);
        break;
      case '--sharpness-every':
        a.sharpnessEvery = intArg(flag, value(), 0);
        break;
      case '--seed':
        a.seed = intArg(flag, value(), 0);
        if (a.seed > 4294967295) throw new UsageError('--seed must be at most 4294967295');
        break;
      case '--max-memory-mb':
        a.maxMemoryMb = intArg(flag, value(), 1);
        break;
      case '--json':
        a.json = true;
        break;
      case '--html': {
        const v = value();
        if (!v || v.startsWith('--')) throw new UsageError('--html needs an output file');
        a.html = v;
        break;
      }
      case '--quiet':
      case '-q':
        a.quiet = true;
        break;
      case '--follow':
      case '-f':
        a.follow = true;
        break;
      case '--compare': {
        const v = value();
        if (!v || v.startsWith('--')) throw new UsageError('--compare needs a log file (*.layerwise.jsonl)');
        (a.compare ??= []).push(v);
        break;
      }
      case '--force':
        a.force = true;
        break;
      case '--kernels': {
        const v = value();
        if (v !== 'ts' && v !== 'auto' && v !== 'wasm' && v !== 'simd')
          throw new UsageError('--kernels must be "auto", "wasm", "simd" or "ts"');
        a.kernels = v;
        break;
      }
      case '--threads': {
        const v = value();
        if (v !== 'auto' && v !== '1' && v !== '2') throw new UsageError('--threads must be "auto", 1 or 2');
        a.threads = v === 'auto' ? v : Number(v);
        break;
      }
      case '--split-min-flops':
        a.splitMinFlops = intArg(flag, value(), 0);
        break;
      case '--help':
      case '-h':
        return { command: 'help', file: '', json: false, quiet: false };
      default:
        if (arg.startsWith('-') && arg !== '-')
          throw new UsageError(`unknown option "${arg}"${didYouMean(arg.split('=')[0]!, OPTIONS)}`);
        if (file !== undefined) throw new UsageError(`one model file at a time (got "${file}" and "${arg}")`);
        file = arg;
    }
  }
  if (file === undefined)
    throw new UsageError(
      cmd === 'watch' ? 'watch needs a log file (*.layerwise.jsonl)' : `${cmd} needs a model file (*.mlp.json)`,
    );
  if (
    cmd === 'watch' &&
    (a.steps !== undefined ||
      a.every !== undefined ||
      a.histogramsEvery !== undefined ||
      a.sharpnessEvery !== undefined ||
      a.seed !== undefined ||
      a.kernels !== undefined ||
      a.threads !== undefined ||
      a.splitMinFlops !== undefined ||
      a.maxMemoryMb !== undefined)
  )
    throw new UsageError(
      'watch reads a log: --steps, --every, --histograms-every, --sharpness-every, --seed, --kernels, --threads, --split-min-flops and --max-memory-mb apply to "run"',
    );
  if (cmd !== 'watch' && a.follow) throw new UsageError('--follow applies to "watch"');
  if (cmd !== 'watch' && a.compare) throw new UsageError('--compare applies to "watch"');
  if (a.compare && a.json && !a.html)
    throw new UsageError('--compare puts the other logs in the table or the --html report: with --json, give --html');
  if (a.force && !a.html) throw new UsageError('--force applies to --html');
  if (
    cmd === 'analyze' &&
    (a.steps !== undefined ||
      a.every !== undefined ||
      a.histogramsEvery !== undefined ||
      a.sharpnessEvery !== undefined)
  )
    throw new UsageError('--steps, --every, --histograms-every and --sharpness-every apply to "run", not "analyze"');
  a.file = file;
  return a;
}
