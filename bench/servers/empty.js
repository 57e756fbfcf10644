// Floor: an ESM entry module that does nothing (bench/package type is module), run as `node empty.js`.
