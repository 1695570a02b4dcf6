// The lobby: live occupancy ("n / max", full rooms marked) refreshed every few seconds without a reload.

const REFRESH_MS = 3000;
const table = /** @type {HTMLTableElement} */ (document.getElementById("rooms"));

async function refresh() {
  try {
    const response = await fetch(table.dataset.source ?? "", { headers: { Accept: "application/json" } });
    if (response.ok) {
      /** @type {{ live_known: boolean, rooms: { id: string, live_peers: number, max_peers: number, is_full: boolean }[] }} */
      const data = await response.json();
      /** @type {HTMLElement} */ (document.getElementById("live-unknown")).hidden = data.live_known;
      for (const room of data.rooms) {
        const row = /** @type {HTMLTableRowElement | null} */ (
          table.querySelector(`tr[data-room="${CSS.escape(room.id)}"]`)
        );
        if (!row) continue; // a room new since the page loaded appears on the next visit
        const live = /** @type {HTMLElement} */ (row.querySelector(".live"));
        const label = /** @type {HTMLElement} */ (live.querySelector(".full-label"));
        live.firstChild && (live.firstChild.textContent = `${room.live_peers} / ${room.max_peers}`);
        label.hidden = !room.is_full;
        row.classList.toggle("full", room.is_full);
      }
    }
  } catch {
    // Offline for a moment: the next refresh will tell.
  }
  setTimeout(refresh, REFRESH_MS);
}
setTimeout(refresh, REFRESH_MS);
