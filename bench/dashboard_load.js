// Page load to first chart drawn, in headless Chromium (bench/dashboard.py runs it).
// Usage: node dashboard_load.js PAGE_URL_WITH_SECRET RUNS
// Prints one JSON line: per run, ms from navigation to DOMContentLoaded, to "connected", and to
// the CPU chart drawn with history points.
const { chromium } = require('playwright-core');

const [pageUrl, runs] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  const rows = [];
  try {
    for (let i = 0; i < Number(runs); i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const started = Date.now();
      await page.goto(pageUrl, { waitUntil: 'domcontentloaded' });
      const loaded = Date.now() - started;
      await page.waitForFunction(() => document.getElementById('state').textContent === 'connected', null, { polling: 'raf' });
      const connected = Date.now() - started;
      await page.waitForFunction(() => Number(document.getElementById('chart-system').dataset.points) > 1, null, { polling: 'raf' });
      rows.push({ loaded, connected, chart: Date.now() - started,
                  points: Number(await page.getAttribute('#chart-system', 'data-points')) });
      await page.close();
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(rows));
})().catch((err) => { console.error(String(err)); process.exit(1); });
