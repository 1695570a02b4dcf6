"""A recording made in a call, uploaded with the client's uploadRecording helper: progress, resume after a cut
connection, and byte-identical downloads from the API and the admin."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Route

from tests.browser.conftest import OpenPage, Site, join, log_in_as_staff, peer_id, wait_connected

# Records the local stream for `ms`, then uploads it in small chunks; returns what the page saw.
RECORD_AND_UPLOAD = """async ([room, ms, chunkSize]) => {
  const m = await import('/static/frontend/webrtc/index.js');
  const handle = window.call.startRecording('local', { mimeType: 'video/webm' });
  await new Promise((resolve) => setTimeout(resolve, ms));
  const blob = await handle.stop();
  const digest = async (data) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))]
    .map((b) => b.toString(16).padStart(2, '0')).join('');
  const progress = [];
  const recording = await m.uploadRecording(blob, { roomId: room, chunkSize, streamId: 'local',
    onProgress: (sent, total) => progress.push([sent, total]) });
  const downloaded = await (await fetch(recording.download_url)).arrayBuffer();
  return { size: blob.size, sha256: await digest(await blob.arrayBuffer()), recording, progress,
           downloadedSha256: await digest(downloaded) };
}"""


def start_call(open_page: OpenPage, site: Site, room_id: str) -> Page:
    alice, bob = open_page("/admin/login/"), open_page(f"/call/{room_id}/")
    log_in_as_staff(alice, site)
    alice.goto(f"{site.url}/call/{room_id}/")
    join(alice)
    join(bob)
    wait_connected(alice, bob)
    assert peer_id(alice)
    return alice


def test_recording_uploads_with_progress_and_downloads_identical(open_page: OpenPage, site: Site, room_id: str) -> None:
    alice = start_call(open_page, site, room_id)
    outcome: dict[str, Any] = alice.evaluate(RECORD_AND_UPLOAD, [room_id, 2500, 32 * 1024])
    size, progress, recording = outcome["size"], outcome["progress"], outcome["recording"]
    assert size > 50_000
    assert recording["status"] == "complete"
    assert recording["size"] == size
    assert recording["sha256"] == outcome["sha256"] == outcome["downloadedSha256"]
    # Progress: many events, never backwards, ending at the whole size.
    sent = [event[0] for event in progress]
    assert len(progress) >= size // (32 * 1024)
    assert sent == sorted(sent)
    assert progress[-1] == [size, size]

    # The admin lists it, and its download link gives the same bytes.
    alice.goto(f"{site.url}/admin/rooms/recording/")
    link = alice.locator(f"a[href$='/api/recordings/{recording['id']}/download']")
    assert link.count() == 1
    assert "recording.webm" in alice.content()
    href = link.get_attribute("href")
    same = alice.evaluate(
        """async (href) => [...new Uint8Array(await crypto.subtle.digest('SHA-256',
             await (await fetch(href)).arrayBuffer()))].map((b) => b.toString(16).padStart(2, '0')).join('')""",
        href,
    )
    assert same == outcome["sha256"]


def test_upload_cut_off_midway_resumes_and_completes_identical(open_page: OpenPage, site: Site, room_id: str) -> None:
    alice = start_call(open_page, site, room_id)
    puts: list[str] = []

    def cut_some(route: Route) -> None:
        puts.append(route.request.headers.get("upload-offset", ""))
        if len(puts) == 3:
            # The server stores this chunk, but its answer never reaches the page.
            route.fetch()
            route.abort("connectionreset")
        elif len(puts) == 5:
            # This one never reaches the server.
            route.abort("connectionreset")
        else:
            route.continue_()

    alice.route("**/api/recordings/*/content", cut_some)
    outcome: dict[str, Any] = alice.evaluate(RECORD_AND_UPLOAD, [room_id, 2000, 16 * 1024])
    recording = outcome["recording"]
    assert recording["status"] == "complete"
    assert recording["sha256"] == outcome["sha256"] == outcome["downloadedSha256"]
    # Each chunk's offset went up by one chunk, except where a cut chunk was sent again (the 5th) or found
    # stored (after the 3rd, the next offset moved on).
    offsets = [int(offset) for offset in puts]
    assert offsets[3] == offsets[2] + 16 * 1024
    assert offsets[5] == offsets[4]
    assert len(offsets) == -(-outcome["size"] // (16 * 1024)) + 1


def test_upload_helper_refuses_bad_input_clearly(open_page: OpenPage, site: Site, room_id: str) -> None:
    site.create_room(room_id, max_peers=2)
    page = open_page("/admin/login/")
    log_in_as_staff(page, site)
    page.goto(f"{site.url}/")
    errors = page.evaluate(
        """async (room) => {
          const m = await import('/static/frontend/webrtc/index.js');
          const attempt = async (blob, options) => {
            try { await m.uploadRecording(blob, options); return 'uploaded'; }
            catch (e) { return `${e.name} ${e.status ?? ''}: ${e.message}`; }
          };
          return [
            await attempt(new Blob([]), { roomId: room }),
            await attempt(new Blob(['plain text, not a video'], { type: 'video/webm' }), { roomId: 'no-such-room' }),
            await attempt(new Blob(['MZ this is not a video file at all'], { type: 'video/webm' }), { roomId: room }),
          ];
        }""",
        room_id,
    )
    assert errors[0].startswith("TypeError")
    assert errors[1] == 'UploadError 400: Upload failed (HTTP 400): {"room":["No such room."]}'
    assert errors[2] == "UploadError 415: The bytes are not a WebM, MP4 or Ogg file, whatever the declared type."
