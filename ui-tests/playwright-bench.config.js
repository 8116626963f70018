/** The Galata setup of playwright.config.js, for the measuring specs in benchmarks/. */
const config = require('./playwright.config.js');

module.exports = {
  ...config,
  testDir: './benchmarks',
  reporter: [['list']],
  use: { ...config.use, trace: 'off', screenshot: 'off' }
};
