'use strict';

/**
 * The Node-API addon built from native/aead.c at install (node-gyp, against the headers of
 * the Node that installs it). Loading throws when the build failed or was skipped:
 * @mlstls/crypto then keeps to node:crypto.
 */
module.exports = require('./build/Release/mlstls_crypto_native.node');
