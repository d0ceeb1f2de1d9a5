// Open the SysMedic dashboard in headless Chromium, open one user's processes, and report what
// the DOM holds of them: the text, and every element inside the processes table and the alerts
// list (a command line must never become markup: no <a>, <img>, <script>).
// Usage: node hostile_dom.js PAGE_URL USER MARK
// MARK is a string every hostile process's command line shows (to wait for). Prints one JSON line.
const { chromium } = require('playwright-core');

const [pageUrl, user, mark] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 60000 };

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const dialogs = [];
    page.on('dialog', (dialog) => { dialogs.push(dialog.message()); dialog.dismiss(); });
    await page.goto(pageUrl);
    await page.waitForFunction((u) => [...document.querySelectorAll('#users tr')].some((tr) => tr.textContent.includes(u)), user, WAIT);
    await page.click(`#users tr:has-text("${user}")`);
    await page.waitForFunction((m) => document.getElementById('processes').textContent.includes(m), mark, WAIT);
    await page.waitForFunction(() => document.querySelectorAll('#alerts li').length > 0, null, WAIT);
    const found = await page.evaluate(() => {
      const tags = (id) => [...document.getElementById(id).querySelectorAll('*')].map((e) => e.tagName.toLowerCase());
      return { processes: document.getElementById('processes').textContent,
               alerts: document.getElementById('alerts').textContent,
               processTags: [...new Set(tags('processes'))], alertTags: [...new Set(tags('alerts'))],
               title: document.title };
    });
    found.dialogs = dialogs;
    console.log(JSON.stringify(found));
  } finally {
    await browser.close();
  }
})().catch((err) => { console.error(String(err)); process.exit(1); });
