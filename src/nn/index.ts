// Models: the V-Net and the parameter store.
export { VNet, defaultVNetConfig, validateVNetConfig, ConfigError, type VNetConfig } from './vnet.js';
export { ParamStore } from './module.js';
