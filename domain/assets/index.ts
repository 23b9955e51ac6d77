export * from './cleanup.js';
export * from './eviction.js';
export * from './outputs.js';
export * from './readiness.js';
export * from './types.js';
export * from './url-settings.js';
