// Entry of the integration tests inside VS Code's extension host (extensionTestsPath): runs every
// bundled *.test.js beside it with mocha (tdd), reports through console.log, resolves on success.
const path = require('node:path');
const fs = require('node:fs');
const Mocha = require('mocha');

exports.run = function run() {
  const grep = process.env.LAYERWISE_TEST_GREP;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60000, reporter: 'spec', ...(grep ? { grep } : {}) });
  for (const f of fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort())
    mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha
      .run((failures) => {
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      })
      .on('end', function () {
        console.log(`integration: ${this.stats.passes} passed, ${this.stats.failures} failed`);
      });
  });
};
