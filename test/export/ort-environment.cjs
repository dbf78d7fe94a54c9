// jest's node environment with the host's typed arrays: onnxruntime-node builds its output
// tensors in the host realm and checks them with `instanceof Float32Array`, which fails against
// the sandbox's own constructors (and Buffers would not equal sandbox Uint8Arrays).
const { TestEnvironment } = require('jest-environment-node');

class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
      'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'])
      this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArraysEnvironment;
