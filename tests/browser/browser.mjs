// The graph browser in headless Chromium (Debian's, driven by puppeteer-core): load the page
// over the sample graph, run a query with Ctrl-Enter and see every node drawn with the edges
// among them, click a node and read its properties, expand it and see its neighbours added,
// right-click for "Similar vectors" and see the dashed similarity edges, a path with
// "Shortest path to…", a bad query shown as an error with its SQLSTATE, the table tab, the
// cluster and metrics panels, keyboard use. Screenshots go to OUTDIR (test artifacts); with a
// third argument, the sample-graph screenshot is also written there (README's picture).
//
//   node browser.mjs HTTP_URL OUTDIR [README_PNG]
import puppeteer from "puppeteer-core";
import { copyFileSync, mkdirSync } from "node:fs";

const [url, outDir, readmePng] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? "ok  " : "FAIL"} ${what}`);
  if (!cond) failures++;
}

async function api(path, body) {
  const resp = await fetch(url + path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return resp.json();
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 768 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const failedRequests = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${r.url()} -> ${r.status()}`);
  });
  page.on("dialog", (d) => d.accept("20")); // "Shortest path to…" asks for the target id
  await page.goto(url + "/", { waitUntil: "networkidle0" });
  check(await page.title() === "ContextDB graph browser", "the page loads from the server");

  // A query run with Ctrl-Enter: all 20 sample nodes and the edges among them are drawn.
  const edgeCount = (await api("/api/v1/query", { sql: "SELECT count(*) FROM edges" })).rows[0][0];
  await page.$eval("#query", (el) => { el.value = "SELECT id, label FROM nodes ORDER BY id"; });
  await page.focus("#query");
  await page.keyboard.down("Control");
  await page.keyboard.press("Enter");
  await page.keyboard.up("Control");
  await page.waitForFunction(() => window.cy.nodes().length === 20, { timeout: 20000 });
  await page.waitForFunction((n) => window.cy.edges().length === n, { timeout: 20000 }, edgeCount);
  check(true, `20 nodes and ${edgeCount} edges drawn`);
  const colours = await page.evaluate(() => new Set(window.cy.nodes().map((n) => n.data("colour"))).size);
  check(colours === 4, `nodes coloured by label (4 labels, ${colours} colours)`);
  await page.screenshot({ path: `${outDir}/sample-graph.png` });
  if (readmePng) copyFileSync(`${outDir}/sample-graph.png`, readmePng);

  // Click node 1: its properties and vector summary.
  const at = async (id) => page.evaluate((key) => {
    const p = window.cy.getElementById(key).renderedPosition();
    const r = document.getElementById("cy").getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  }, String(id));
  let p = await at(1);
  await page.mouse.click(p.x, p.y);
  await page.waitForFunction(() => document.querySelector("#details dl") !== null);
  const details = await page.$eval("#details", (el) => el.textContent);
  check(details.includes("Person") && details.includes("ann") && details.includes("128 dims"),
    `node 1's properties and vector summary shown (${details.slice(0, 80)}…)`);

  // Expand: from node 1 alone, its neighbours (both directions) are added.
  const related = (await api("/api/v1/nodes/1/related?depth=1&direction=both")).related.length;
  await page.click("#clear");
  await page.$eval("#query", (el) => { el.value = "SELECT id, label FROM nodes WHERE id = 1"; });
  await page.click("#run");
  await page.waitForFunction(() => window.cy.nodes().length === 1);
  p = await at(1);
  await page.mouse.click(p.x, p.y);
  await page.waitForSelector("#details button");
  await page.click("#details button");
  await page.waitForFunction((n) => window.cy.nodes().length === n, { timeout: 20000 }, 1 + related);
  check(true, `expanding node 1 adds its ${related} neighbours`);
  await page.screenshot({ path: `${outDir}/expanded.png` });

  // Right-click → Similar vectors: 5 dashed similarity edges from node 1.
  p = await at(1);
  await page.mouse.click(p.x, p.y, { button: "right" });
  await page.waitForSelector("#menu:not([hidden])");
  await page.click('#menu [data-action="similar"]');
  await page.waitForFunction(() => window.cy.edges(".similar").length === 5, { timeout: 20000 });
  const similar = (await api("/api/v1/vectors/1/similar?k=5")).similar.map((s) => String(s.id));
  const drawn = await page.evaluate(() => window.cy.edges(".similar").map((e) => e.data("target")));
  check(similar.every((id) => drawn.includes(id)), `similar vectors drawn as dashed edges (${drawn})`);
  await page.screenshot({ path: `${outDir}/similar.png` });

  // Right-click → Shortest path to… 20 (the dialog answers 20): the path is marked.
  const path = (await api("/api/v1/shortest_path?from=1&to=20")).path.map((s) => String(s.id));
  p = await at(1);
  await page.mouse.click(p.x, p.y, { button: "right" });
  await page.waitForSelector("#menu:not([hidden])");
  await page.click('#menu [data-action="path"]');
  await page.waitForFunction((n) => window.cy.nodes(".path").length === n, { timeout: 20000 },
    path.length);
  check(true, `shortest path 1 → 20 marked (${path.join(" → ")})`);

  // A bad query: the error with its SQLSTATE, the graph untouched.
  const before = await page.evaluate(() => window.cy.elements().length);
  await page.$eval("#query", (el) => { el.value = "SELEC * FROM nodes"; });
  await page.click("#run");
  await page.waitForSelector("#error:not([hidden])");
  const error = await page.$eval("#error", (el) => el.textContent);
  check(error.includes("42601") && error.includes("syntax error"), `bad query shows "${error}"`);
  check(await page.evaluate(() => window.cy.elements().length) === before, "graph unchanged");
  await page.screenshot({ path: `${outDir}/error.png` });

  // A non-graph result goes to the table tab.
  await page.$eval("#query", (el) => { el.value = "SELECT count(*) AS n FROM nodes"; });
  await page.click("#run");
  await page.waitForFunction(() => !document.getElementById("table-panel").hidden);
  const cell = await page.$eval("#results tbody td", (el) => el.textContent);
  check(cell === "20", `table tab shows count(*) = ${cell}`);
  check(await page.$eval("#error", (el) => el.hidden), "error cleared by the next query");

  // Panels: cluster members and metrics.
  await page.waitForFunction(() => document.querySelectorAll("#cluster tbody tr").length >= 1 &&
    document.querySelector("#metrics dd") !== null, { timeout: 20000 });
  const metrics = await page.$eval("#metrics", (el) => el.textContent);
  check(metrics.includes("nodes") && metrics.includes("20"), "metrics panel shows the counts");
  const role = await page.$eval("#cluster tbody tr", (el) => el.textContent);
  check(/leader|standalone/.test(role), `cluster panel shows this member (${role})`);

  // Keyboard: Tab reaches the graph; n selects a node, Enter shows it.
  await page.click('#tab-graph');
  await page.focus("#cy");
  await page.keyboard.press("n");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#details").textContent.includes("id"));
  check(await page.evaluate(() => window.cy.nodes(":selected").length) === 1,
    "keyboard: n selects a node, Enter shows its properties");

  check(pageErrors.length === 0, `no script errors in the page (${pageErrors.join("; ")})`);
  check(failedRequests.length === 1 && failedRequests[0].includes("/api/v1/query -> 400"),
    `the bad query is the only failed request (${failedRequests.join("; ")})`);
} finally {
  await browser.close();
}
console.log(failures === 0 ? "browser test passed" : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
