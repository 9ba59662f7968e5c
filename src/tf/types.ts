// The TF.js namespace type, on its own so that the runtime picker and the kernels it installs
// can both name it without importing each other.
// Typed against the pure-JS package: tfjs-node and tfjs-node-gpu re-export the same API.
export type Tf = typeof import('@tensorflow/tfjs');
