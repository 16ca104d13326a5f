// Node consumer: readFileSync, readdirSync (scandir64), statSync
// (syscall(SYS_statx) in libuv), existsSync (access), async readFile.
// Run by tests/py/shim/test_langs.py.  usage: node node_fs.js ROOT
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const root = process.argv[2];
const h = (b) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 24);

function walk(dir) {
  for (const n of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, n);
    const l = fs.lstatSync(p);
    const rel = path.relative(root, p);
    if (l.isSymbolicLink()) {
      console.log('L', rel, fs.readlinkSync(p), fs.existsSync(p));
    } else if (l.isDirectory()) {
      console.log('D', rel);
      walk(p);
    } else {
      const s = fs.statSync(p);
      console.log('F', rel, s.size, h(fs.readFileSync(p)));
    }
  }
}
walk(root);
console.log('exists', fs.existsSync(path.join(root, 'nope')), fs.existsSync(path.join(root, 'dirlink')));
console.log('realpath', path.relative(root, fs.realpathSync(path.join(root, 'link_deep'))));
console.log('withFileTypes', fs.readdirSync(path.join(root, 'nested'), {withFileTypes: true})
  .map((d) => d.name + ':' + d.isDirectory()).sort().join(','));
fs.readFile(path.join(root, 'big40.bin'), (err, b) => {
  console.log('async', err ? err.code : b.length + ' ' + h(b));
});
