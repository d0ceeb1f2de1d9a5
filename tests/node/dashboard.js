// Drive the SysMedic dashboard in headless Chromium (Debian's /usr/bin/chromium) against a real
// daemon, then take screenshots at 1280x800 and 390x844 in light and dark.
// Usage: node dashboard.js PAGE_URL LOAD_USER SHOT_DIR
// Prints one JSON line: what the page showed. Exits non-zero if a step times out.
const { chromium } = require('playwright-core');
const path = require('path');

const [pageUrl, loadUser, shotDir] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 60000 };

// Pixels of a canvas close to a colour (#rrggbb; lines, and fills drawn see-through), and pixels
// not transparent at all.
function inked([canvasId, colour]) {
  const canvas = document.getElementById(canvasId);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  let near = 0, painted = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) painted++;
    if (data[i + 3] > 40 && Math.abs(data[i] - want[0]) + Math.abs(data[i + 1] - want[1]) + Math.abs(data[i + 2] - want[2]) < 60) near++;
  }
  return { near, painted, total: data.length / 4 };
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  const result = { problems: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => result.problems.push(String(err)));
    result.opened = Date.now() / 1000;
    const started = Date.now();
    await page.goto(pageUrl);
    await page.waitForFunction(() => Number(document.getElementById('chart-system').dataset.points) > 1, null, WAIT);
    result.firstChartMs = Date.now() - started;
    result.address = page.url();
    result.state = await page.textContent('#state');
    result.systemFrom = Number(await page.getAttribute('#chart-system', 'data-from'));
    result.systemPoints = Number(await page.getAttribute('#chart-system', 'data-points'));
    result.layout = await page.evaluate(() => {
      const load = document.getElementById('load');
      return { usersTop: document.getElementById('users').closest('section').getBoundingClientRect().top,
               viewport: window.innerHeight, loadCut: load.scrollWidth > load.clientWidth,
               rangeNote: document.getElementById('range-note').textContent,
               rangeOn: document.querySelector('[data-range].on').dataset.range };
    });
    await page.waitForFunction((user) => document.getElementById('legend-users').textContent.includes(user), loadUser, WAIT);
    result.usersLegend = await page.textContent('#legend-users');
    await page.click('[data-range="900"]');  // 15 minutes: a young daemon's history is wider there
    await page.waitForFunction(() => Number(document.getElementById('chart-users').dataset.points) > 3, null, WAIT);
    const colour = await page.$eval('#legend-users span', (s) => s.style.getPropertyValue('--swatch').trim());
    result.legendFirst = await page.textContent('#legend-users span');
    result.colour = colour;
    result.userInk = await page.evaluate(inked, ['chart-users', colour]);
    result.cpuInk = await page.evaluate(inked, ['chart-system', '#3b82f6']);
    result.memoryInk = await page.evaluate(inked, ['chart-system', '#10b981']);
    result.axes = await page.evaluate(() => ({
      network: JSON.parse(document.getElementById('chart-network').dataset.yLabels || '[]'),
      load: JSON.parse(document.getElementById('chart-load').dataset.yLabels || '[]'),
      times: JSON.parse(document.getElementById('chart-users').dataset.xLabels || '[]') }));
    await page.waitForFunction((user) => [...document.querySelectorAll('#alerts li')].some((li) => li.textContent.includes(user)),
      loadUser, { timeout: 90000 });
    result.alerts = await page.$$eval('#alerts li', (items) => items.map((i) => i.textContent));
    result.userTable = await page.evaluate((user) => ({
      heads: Array.from(document.querySelectorAll('#users-head th')).map((th) => th.textContent),
      row: Array.from(document.querySelectorAll('#users tr')).map((tr) => Array.from(tr.cells).map((td) => td.textContent))
        .find((cells) => cells[0] === user) }), loadUser);
    result.alertAfterOpen = Date.now() / 1000;
    await page.click(`#users tr:has-text("${loadUser}")`);
    await page.waitForFunction(() => document.getElementById('processes').textContent.includes('yes'), null, WAIT);
    result.processes = await page.textContent('#processes');
    const box = await page.$eval('#chart-system', (c) => {
      c.scrollIntoView();
      const r = c.getBoundingClientRect();
      return [r.x, r.y, r.width, r.height];
    });
    await page.mouse.move(box[0] + box[2] * 0.9, box[1] + box[3] / 2);
    result.tooltip = await page.textContent('#tooltip');
    result.pageBytes = (await page.content()).length;
    result.shots = [];
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const [w, h] of [[1280, 800], [390, 844]]) {
      await page.setViewportSize({ width: w, height: h });
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
        const file = path.join(shotDir, `dashboard-${w}x${h}-${scheme}.png`);
        await page.screenshot({ path: file, fullPage: false });
        const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        const ink = (await page.evaluate(inked, ['chart-system', '#3b82f6'])).near +
          (await page.evaluate(inked, ['chart-system', '#10b981'])).near;
        result.shots.push({ file, scheme, background, overflow, ink });
      }
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((err) => { console.error(String(err)); process.exit(1); });
