/**
 * The native dense products (native/kernels.c, built by `npm run build` into
 * dist/layerwise-native.node where a C compiler and Node's headers are found): loaded where this
 * CPU runs them (AVX-512F), else null, and the WebAssembly kernels serve alone. LAYERWISE_NATIVE=0
 * leaves them out.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { NativeKernels, NativeLanczos } from '../core/kernels';
import { NativeWasmKernels } from '../core/native-wasm-kernels';
import { wasmAvailable } from '../core/wasm-module';

/** The built module's file name (scripts/build-native.mjs writes it next to the bundles). */
const NATIVE_FILE = 'layerwise-native.node';

interface NativeModule extends Omit<NativeKernels, 'name' | 'lanczos'>, Partial<NativeLanczos> {
  supported: boolean;
}

const loaded = new Map<string, NativeKernels | null>();

/** The native products from `dir`/layerwise-native.node, or null where there are none to run. */
export function nativeKernels(dir: string): NativeKernels | null {
  const file = path.join(dir, NATIVE_FILE);
  if (process.env.LAYERWISE_NATIVE === '0') return null;
  if (loaded.has(file)) return loaded.get(file)!;
  let gemm: NativeKernels | null = null;
  if (fs.existsSync(file)) {
    try {
      const m = createRequire(file)(file) as NativeModule;
      // a module built before a pass was added lacks it: the WebAssembly kernels serve alone
      if (m.supported && typeof m.histogramSlots === 'function')
        gemm = {
          name: 'native-avx512',
          ...(m.ahead === true ? { ahead: true } : {}),
          forward: m.forward,
          weightGrad: m.weightGrad,
          inputGrad: m.inputGrad,
          update: m.update,
          reluForward: m.reluForward,
          reluBackward: m.reluBackward,
          histogramMoments: m.histogramMoments,
          histogramSlots: m.histogramSlots,
          ...(typeof m.gram === 'function' ? { gram: m.gram } : {}),
          ...(typeof m.copyRows === 'function' ? { copyRows: m.copyRows } : {}),
          ...(m.addInto && m.mulInto ? { addInto: m.addInto, mulInto: m.mulInto } : {}),
          ...(m.alpha32 && m.residual32 && m.scale32 && m.addScaledAll
            ? {
                lanczos: {
                  alpha32: m.alpha32,
                  residual32: m.residual32,
                  scale32: m.scale32,
                  addScaledAll: m.addScaledAll,
                },
              }
            : {}),
        };
    } catch {
      // built for another Node or platform: the WebAssembly kernels serve
    }
  }
  loaded.set(file, gemm);
  return gemm;
}

/**
 * The kernels a run asks for, with the native products where they load: 'auto' takes them beside
 * the fastest WebAssembly build; 'wasm' the WebAssembly build alone (the core's 'auto'); 'simd' and
 * 'ts' as the core has them.
 */
export function runKernels(
  choice: 'auto' | 'wasm' | 'simd' | 'ts',
  dir: string,
): NativeWasmKernels | 'auto' | 'simd' | 'ts' {
  if (choice === 'wasm') return 'auto';
  if (choice !== 'auto') return choice;
  const native = wasmAvailable() ? nativeKernels(dir) : null;
  return native ? new NativeWasmKernels(native) : 'auto';
}
