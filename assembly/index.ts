// The WebAssembly module of the Layerwise core: dense products, optimiser steps, histograms,
// Lanczos's vector arithmetic, and the gradients' passes around clipping.
export { gemm, gemmNT, transpose } from './gemm';
export { gemmSparseRows, allFinite } from './gemm-sparse';
export { sgd, momentum, adam } from './update';
export { reluForward, reluBackward, columnSums, placeColumns, addInto, mulInto, mulAddInto } from './elementwise';
export { histogramMoments, histogramSlots } from './histogram';
export {
  dot64,
  subtractAndDot64,
  uniformSigned64,
  scaleAdd64,
  alpha32,
  residual32,
  scale32,
  scaleInto64,
  addScaled64,
  addScaled4x64,
  gram,
} from './vector';
export { gradientSums, scaleGradient, clampGradient } from './gradients';
