// The WebAssembly module of the Layerwise core: dense products and optimiser steps.
export { gemm, transpose } from './gemm';
export { sgd, momentum, adam } from './update';
