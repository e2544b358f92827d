// The actions on jobs (cancel, retry now, requeue) and how each runs: through
// POST /v1/jobs/bulk, previewed and confirmed first. The jobs pages and the job page
// use them.

import { confirmDialog, num, post, toast } from "./core.js";

export const ACTIONS = {
  cancel: { label: "Cancel", fits: ["WAITING", "PENDING", "RUNNING"], verb: "cancel" },
  retry_now: { label: "Retry now", fits: ["PENDING"], verb: "make due now" },
  requeue: { label: "Requeue", fits: ["DEAD_LETTER"], verb: "requeue" },
};

// Preview on the server, confirm, run in batches on the server, report.
export async function bulk(action, target, what, then) {
  const spec = ACTIONS[action];
  try {
    const preview = await post("/v1/jobs/bulk", { action, ...target, preview: true });
    if (preview.matched === 0) {
      toast(`Nothing to ${spec.verb}: no ${spec.fits.join("/")} job among ${what}.`, "warn");
      return;
    }
    const count = `${num(preview.matched)}${preview.capped ? "+" : ""}`;
    const go = await confirmDialog(
      `${spec.label}: this will ${spec.verb} ${count} job(s) (${spec.fits.join(", ")}) — ${what}.`,
      `${spec.label} ${count} job(s)`);
    if (!go) return;
    const done = await post("/v1/jobs/bulk", { action, ...target });
    toast(`${spec.label}: ${num(done.changed)} job(s) changed in ${done.batches} batch(es).`);
    then();
  } catch (e) {
    toast(e.message, "bad");
  }
}
