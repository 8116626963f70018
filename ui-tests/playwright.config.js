/**
 * Galata's base configuration, adapted to this machine: Debian's chromium
 * (Playwright's own browser downloads are not reachable), no video (it needs
 * Playwright's ffmpeg), one worker (2 cores, one Jupyter server with one
 * emulated LSF), and a server bound to loopback.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const PORT = Number(process.env.PANGEO_HPC_UI_PORT || 18888);
const BASE_URL = `http://127.0.0.1:${PORT}`;

module.exports = {
  ...baseConfig,
  testDir: './tests',
  workers: 1,
  retries: 0,
  timeout: 120 * 1000,
  expect: { timeout: 30 * 1000 },
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    ...baseConfig.use,
    baseURL: BASE_URL,
    viewport: { width: 1280, height: 900 },
    video: 'off',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium'
    }
  },
  webServer: {
    command: `jupyter lab --config jupyter_server_test_config.py --port ${PORT}`,
    url: `${BASE_URL}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI,
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
