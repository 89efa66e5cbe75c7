/**
 * WebAssembly features of this process. Node 20's V8 (11.3) has relaxed SIMD behind a flag; V8 11.4
 * and later (Node 22, VS Code's Electron) ship it. The core's GEMMs run ~1.3× faster with its fused
 * multiply-add, so the worker turns the flag on before any module is compiled. The flag only adds
 * a standard WebAssembly feature; where the engine has it already, nothing is changed.
 */
import { setFlagsFromString } from 'node:v8';
import { wasmAvailable } from '../core/wasm-module';

/** Makes relaxed SIMD available where a flag can; returns whether it is. */
export function enableRelaxedSimd(): boolean {
  if (wasmAvailable('relaxed')) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // an engine without the flag: plain SIMD serves
  }
  return wasmAvailable('relaxed');
}
