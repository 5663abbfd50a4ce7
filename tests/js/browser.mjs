// What the browser tests share: Debian's Chromium through playwright-core, headless in a throwaway
// profile, the test of "does this request leave the machine", and the ending every script has (the
// JSON report on stdout either way; `<script>: <step>: <reason>` on stderr and exit code 1 on failure).

import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

// require() rather than import: it also honours NODE_PATH, for a playwright-core installed elsewhere.
const { chromium } = createRequire(import.meta.url)("playwright-core");

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Whether `address` stays on this machine (data:, blob: and about: do). */
export function isLocal(address) {
  const { protocol, hostname } = new URL(address);
  if (!["http:", "https:", "ws:", "wss:"].includes(protocol)) return true;
  return LOCAL_HOSTS.has(hostname);
}

/**
 * Launches Chromium (CHROMIUM, default /usr/bin/chromium) in a fresh profile named after `name`,
 * runs `prepare(context)` then `drive(context, page)`, calls `onFailure(page)` when drive throws
 * (a screenshot, say; its own failure is ignored), and always closes the browser and removes the profile.
 */
export async function withChromium({ name, timeout, viewport, prepare, onFailure }, drive) {
  const profile = mkdtempSync(join(tmpdir(), `${name}-chromium-`));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, timeout, args: ARGS,
      ...(viewport ? { viewport } : {}),
    });
    context.setDefaultTimeout(timeout);
    if (prepare) await prepare(context);
    const page = context.pages()[0] || (await context.newPage());
    try {
      await drive(context, page);
    } catch (error) {
      if (onFailure) await Promise.resolve().then(() => onFailure(page)).catch(() => {});
      throw error;
    }
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Runs `main` and ends the script: the report on stdout either way, the failing step on stderr. */
export async function finish(script, main, report, currentStep, detail = () => "") {
  try {
    await main();
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.stderr.write(`${script}: ${error.step || currentStep()}: ${error.message}${detail()}\n`);
    process.exitCode = 1;
  }
}
