'use strict';
// The sandbox's Node.js preload (image.toml: preload = ["node", "/opt/sandbox/preload/node.js"]).
//
// The runner starts `node` on this file while the container waits for its request, confined like
// the program it will become (see the runner's `preload` module). Node's start-up is the expensive
// part of a small run; once it is done, this blocks on descriptor 3 for ONE message from the
// runner: a u32 big-endian length, then JSON {"argv": ["node", "main.js", ...args], "env": {...}}.
// It then becomes `node main.js ...args` in this process: argv, environment and module paths as
// node would set them, the main module run by node's own entry point (Module.runMain: CommonJS, or
// ESM for .mjs and "type": "module"), so require.main, __filename, exit codes, uncaught exceptions
// and unhandled rejections, process.exit and stdin are the same. What differs: the bottom frames
// of a stack trace below Module._load (this file's instead of node:internal/main/run_main_module),
// the process's clocks (process.uptime(), performance.now()) include the wait, and
// /proc/self/environ shows the environment node started with (the runner's base one), not the
// request's: process.env, and every child process the program starts, have the request's.
//
// Nothing may run before the message: no output, no handle on the event loop, no stdio stream.
const fs = require('fs');
const path = require('path');
const Module = require('module');
// Node's own modules are loaded now rather than by the program: `net` is what process.stdout,
// stderr and stdin are on pipes (~16 ms of a hello world's CPU). Loading one has no effect a
// program can see: require() gives it the same module either way.
require('net');

const GO_FD = 3;

function readExact(length) {
  const buffer = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    let n;
    try {
      n = fs.readSync(GO_FD, buffer, got, length - got, null);
    } catch (error) {
      if (error.code === 'EINTR' || error.code === 'EAGAIN') continue;
      throw error;
    }
    if (n === 0) process.exit(0); // the runner let go of this preload: leave quietly
    got += n;
  }
  return buffer;
}

const length = readExact(4).readUInt32BE(0);
const message = JSON.parse(readExact(length).toString('utf8'));
fs.closeSync(GO_FD);

for (const name of Object.keys(process.env)) delete process.env[name];
Object.assign(process.env, message.env);
Module._initPaths(); // NODE_PATH and HOME as the program's environment has them

const argv = message.argv;
process.argv.length = 1; // argv[0]: process.execPath, as node sets it
process.argv.push(path.resolve(argv[1]), ...argv.slice(2));
delete require.cache[__filename];
Module.runMain(); // node's entry point for process.argv[1]: this process is now `node main.js`
