// The Hessian of a model file's first batch (as `layerwise analyze` takes it: at most 64 rows) at
// its initial parameters, for the PyTorch comparison tests (python/tests/test_sharpness.py):
//   node --import tsx scripts/hvp.ts MODEL.mlp.json VECTORS.json
// VECTORS.json holds a list of vectors in PyTorch's parameter order; prints
// {"size", "rows", "loss", "hv": [H·v for each], "lambdaMax"} as one JSON line.
import { readFileSync } from 'node:fs';
import { loadModelFile } from '../src/modelfile/load';
import { hessianOfBatch } from '../src/core/sharpness';
import { lambdaMax } from '../src/core/lanczos';
import { lossAndGrad } from '../src/core/losses';
import { Rng } from '../src/core/rng';
import { batchSizeOf, buildNetwork, datasetOf } from '../src/core/model-setup';

const [file, vectors] = process.argv.slice(2);
const loaded = loadModelFile(file!);
if (!loaded.spec) {
  console.error(loaded.problems.map((p) => p.message).join('\n'));
  process.exit(2);
}
const spec = loaded.spec;
const B = Math.min(64, batchSizeOf(spec));
const ds = datasetOf(spec, undefined, B);
// in float64 on the TS kernels, whatever the file's dtype: the reference for PyTorch's float64
const net = buildNetwork({ ...spec, dtype: 'float64' }, B, 'ts', true);
net.input.set(ds.x.subarray(0, B * spec.inputSize));
const targets = ds.y.subarray(0, B * ds.targetSize);
const op = hessianOfBatch(net, targets, spec.loss, B);
const out = net.output;
const loss = lossAndGrad(spec.loss, out.A, targets, new Float64Array(B * out.units), B, out.units);
const vs = JSON.parse(readFileSync(vectors!, 'utf8')) as number[][];
const hv = vs.map((v) => {
  const out = new Float64Array(op.size);
  op.hvp(Float64Array.from(v), out);
  return [...out];
});
const r = lambdaMax(op, null, new Rng(spec.seed, 'sharpness'), 100, 1e-10);
console.log(JSON.stringify({ size: op.size, rows: B, loss, hv, lambdaMax: r.lambdaMax }));
