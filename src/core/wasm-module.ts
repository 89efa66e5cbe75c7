/**
 * The WebAssembly module of the kernels (assembly/, built into wasm-binaries.generated.ts by
 * `npm run build`), compiled once a variant and shared by every instance of this thread.
 */
import type { WasmVariant } from './kernels';
import { GEMM_WASM_BASE64, GEMM_WASM_RELAXED_BASE64 } from './wasm-binaries.generated';

/**
 * The two builds of the module: 'relaxed' fuses each multiply-add of the GEMMs (relaxed SIMD,
 * shipped in V8 11.4+; Node 20 needs --experimental-wasm-relaxed-simd, which the worker and the
 * CLI set), 'simd' is plain 128-bit SIMD. Results agree within float32 rounding.
 */

const compiled = new Map<WasmVariant, WebAssembly.Module>();

/** The compiled module of a variant, or null where this engine cannot run it (not cached: a flag may enable it later). */
export function wasmModule(variant: WasmVariant): WebAssembly.Module | null {
  const done = compiled.get(variant);
  if (done) return done;
  try {
    const bytes = Uint8Array.from(atob(variant === 'relaxed' ? GEMM_WASM_RELAXED_BASE64 : GEMM_WASM_BASE64), (c) =>
      c.charCodeAt(0),
    );
    if (!WebAssembly.validate(bytes)) return null;
    const mod = new WebAssembly.Module(bytes);
    compiled.set(variant, mod);
    return mod;
  } catch {
    return null;
  }
}

/** The fastest variant this engine runs, or null without WebAssembly SIMD. */
export function bestWasmVariant(): WasmVariant | null {
  return wasmModule('relaxed') ? 'relaxed' : wasmModule('simd') ? 'simd' : null;
}

/** Whether this engine runs `variant` (by default: any build). */
export function wasmAvailable(variant?: WasmVariant): boolean {
  return variant ? wasmModule(variant) !== null : bestWasmVariant() !== null;
}
