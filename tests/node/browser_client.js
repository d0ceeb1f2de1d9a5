// Drive the SysMedic browser client in headless Chromium (Debian's /usr/bin/chromium).
// Usage: node browser_client.js PAGE_URL SYSMEDIC_URL SCREENSHOT.png
// Prints one JSON line: what the page showed. Exits non-zero if a step times out.
const { chromium } = require('playwright-core');

const [pageUrl, sysmedicUrl, screenshot] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'];

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  const result = {};
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (err) => problems.push(String(err)));
    await page.goto(pageUrl);
    await page.fill('#url', sysmedicUrl);
    await page.click('#connect');
    await page.waitForFunction(() => document.getElementById('state').textContent === 'connected', null, { timeout: 15000 });
    await page.waitForFunction(() => /%$/.test(document.getElementById('cpu').textContent), null, { timeout: 15000 });
    result.cpu = await page.textContent('#cpu');
    result.memory = await page.textContent('#memory');
    result.uptime = await page.textContent('#uptime');
    result.status = await page.textContent('#status');
    result.system = await page.textContent('#system');
    result.accounting = await page.textContent('#accounting');
    await page.click('[data-request="ping"]');
    await page.waitForFunction(() => document.getElementById('log').textContent.includes('pong'), null, { timeout: 15000 });
    await page.click('[data-request="get_user_metrics"]');
    await page.waitForFunction(() => document.querySelectorAll('#users tr').length > 0, null, { timeout: 15000 });
    result.users = await page.$$eval('#users tr', (rows) => rows.map((r) => r.firstChild.textContent));
    for (const request of ['get_system_info', 'get_alerts', 'get_config']) {
      await page.click(`[data-request="${request}"]`);
    }
    await page.waitForFunction(() => ['alerts_response', 'config_response', 'system_info_response']
      .every((t) => document.getElementById('log').textContent.includes(t)), null, { timeout: 15000 });
    await page.waitForFunction(() => /in total\)$/.test(document.getElementById('alert-summary').textContent),
      null, { timeout: 15000 });
    result.alertSummary = await page.textContent('#alert-summary');
    result.alerts = await page.$$eval('#alerts li', (items) => items.map((i) => i.textContent));
    result.log = await page.textContent('#log');
    result.problems = problems;
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((err) => { console.error(String(err)); process.exit(1); });
