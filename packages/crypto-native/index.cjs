'use strict';

/**
 * The Node-API addon built from native/aead.c at install (node-gyp, against the headers of
 * the Node that installs it). Loading throws when the build failed or was skipped:
 * @mlstls/crypto then keeps to node:crypto.
 */
const addon = require('./build/Release/mlstls_crypto_native.node');

// One assignment per export, so that Node's ESM loader sees them as named exports
// (`import { seal } from '@mlstls/crypto-native'`), which it cannot in the addon itself.
exports.createKey = addon.createKey;
exports.rekey = addon.rekey;
exports.seal = addon.seal;
exports.open = addon.open;
exports.destroy = addon.destroy;
