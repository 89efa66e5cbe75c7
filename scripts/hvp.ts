// The Hessian of a model file's first batch (as `layerwise analyze` takes it: at most 64 rows) at
// its initial parameters, for the PyTorch comparison tests (python/tests/test_sharpness.py):
//   node --import tsx scripts/hvp.ts MODEL.mlp.json VECTORS.json
// VECTORS.json holds a list of vectors in PyTorch's parameter order; prints
// {"size", "rows", "loss", "hv": [H·v for each], "lambdaMax"} as one JSON line.
import { readFileSync } from 'node:fs';
import { loadModelFile } from '../src/modelfile/load';
import { HessianOperator, lambdaMax } from '../src/core/sharpness';
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
const net = buildNetwork(spec, B, 'ts');
const op = new HessianOperator(net.layers, ds.x, ds.y.subarray(0, B * ds.targetSize), spec.loss, B);
const vs = JSON.parse(readFileSync(vectors!, 'utf8')) as number[][];
const hv = vs.map((v) => {
  const out = new Float64Array(op.size);
  op.hvp(Float64Array.from(v), out);
  return [...out];
});
const r = lambdaMax(op, null, new Rng(spec.seed, 'sharpness'), 100, 1e-10);
console.log(JSON.stringify({ size: op.size, rows: B, loss: op.loss, hv, lambdaMax: r.lambdaMax }));
