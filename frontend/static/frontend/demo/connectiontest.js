// The "Test my connection" page: runs the client's connection test, shows each result as it comes, and sends the
// report to the site's support staff when the user asks.

import { WebRTCCall } from "../webrtc/index.js";
import { $ } from "./ui.js";

/** @typedef {import('../webrtc/types.js').ConnectionReport} ConnectionReport */
/** @typedef {import('../webrtc/types.js').ConnectionCheck} ConnectionCheck */

const signalUrl = $("app").dataset.signal ?? "";
const run = /** @type {HTMLButtonElement} */ ($("run"));
const send = /** @type {HTMLButtonElement} */ ($("send"));
const summary = $("summary");
const sent = $("sent");
const MARKS = { pass: "\u2714", fail: "\u2718", skip: "\u2013" };
/** @type {ConnectionReport | null} */
let report = null;

/** @param {ConnectionCheck} check */
function show(check) {
  const row = document.querySelector(`[data-check="${check.id}"]`);
  if (!(row instanceof HTMLElement)) return;
  row.dataset.status = check.status;
  /** @type {HTMLElement} */ (row.querySelector(".mark")).textContent = MARKS[check.status];
  /** @type {HTMLElement} */ (row.querySelector(".message")).textContent = check.message;
}

run.addEventListener("click", async () => {
  run.disabled = true;
  send.hidden = true;
  sent.hidden = true;
  report = null;
  for (const row of document.querySelectorAll("[data-check]")) {
    if (!(row instanceof HTMLElement)) continue;
    row.dataset.status = "running";
    /** @type {HTMLElement} */ (row.querySelector(".mark")).textContent = "\u2026";
    /** @type {HTMLElement} */ (row.querySelector(".message")).textContent = "Testing…";
  }
  $("checks").hidden = false;
  summary.hidden = false;
  summary.dataset.ok = "";
  summary.textContent = "Testing your connection…";
  report = await WebRTCCall.testConnection({ signalUrl, onCheck: show });
  for (const check of report.checks) show(check);
  const failed = report.checks.filter((check) => check.status === "fail").length;
  summary.dataset.ok = String(report.ok);
  summary.textContent = report.ok
    ? "Everything a call needs works from here."
    : `${failed} of ${report.checks.length} checks failed: see below what each means.` +
      " If you cannot join a call, send the results to support.";
  run.disabled = false;
  run.textContent = "Test again";
  send.hidden = false;
  send.disabled = false;
});

send.addEventListener("click", async () => {
  if (!report) return;
  send.disabled = true;
  sent.hidden = false;
  sent.dataset.ok = "";
  sent.textContent = "Sending…";
  try {
    const { id } = await WebRTCCall.sendConnectionReport({ signalUrl }, report);
    sent.dataset.ok = "true";
    sent.textContent = `Sent. Your reference: ${id}`;
    sent.dataset.reference = id;
  } catch (error) {
    sent.dataset.ok = "false";
    sent.textContent = `Could not send the results: ${/** @type {Error} */ (error).message}`;
    send.disabled = false;
  }
});
