'use strict';
// Builds the addon with node-gyp at install. Node's own headers are used where the running Node
// ships them (<prefix>/include/node: official tarballs and Debian/NodeSource packages), so that
// the build needs no download; otherwise node-gyp fetches them as usual. A failed build is a
// warning, never a failed install: @mlstls/crypto then keeps to node:crypto.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const args = ['rebuild', '--release'];
const prefix = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const npmNodeGyp = process.env.npm_config_node_gyp;
const [command, commandArgs] = npmNodeGyp
  ? [process.execPath, [npmNodeGyp, ...args]]
  : ['node-gyp', args];
const result = spawnSync(command, commandArgs, { stdio: 'inherit', shell: !npmNodeGyp });
if (result.status !== 0) {
  console.warn('@mlstls/crypto-native: the build failed; @mlstls/crypto keeps to node:crypto');
}
