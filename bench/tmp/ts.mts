import { tsKernels } from '../../src/core/dense';
const [B, K, U] = [64, 784, 256];
const A = new Float32Array(B * K).map((_, i) => Math.sin(i)), W = new Float32Array(U * K).map((_, i) => Math.cos(i)), b = new Float32Array(U), Z = new Float32Array(B * U), dW = new Float32Array(U * K), dA = new Float32Array(B * K);
const time = (f: () => void) => { f(); const t0 = performance.now(); let n = 0; while (performance.now() - t0 < 500) { f(); n++; } return (performance.now() - t0) / n; };
for (let r = 0; r < 3; r++) {
  const f = time(() => tsKernels.forward(A, W, b, Z, B, K, U));
  const g = time(() => tsKernels.weightGrad(Z, A, dW, b, B, K, U));
  const h = time(() => tsKernels.inputGrad(Z, W, dA, B, K, U));
  const fl = 2 * B * K * U / 1e6;
  console.log(`forward ${(fl / f).toFixed(2)} GF (${f.toFixed(2)} ms)  weightGrad ${(fl / g).toFixed(2)} GF (${g.toFixed(2)} ms)  inputGrad ${(fl / h).toFixed(2)} GF (${h.toFixed(2)} ms)`);
}
