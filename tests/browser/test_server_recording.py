"""A call recorded on the server: two Chromium pages in a room for two, `manage.py record_call` in an extra seat,
a recording per page that decodes to the page's camera and microphone for as long as the call lasted."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request

import av
import numpy as np

from tests.browser.conftest import OpenPage, Site, join, peer_id, recorder_output, wait_connected


def api(site: Site, path: str) -> bytes:
    request = urllib.request.Request(
        site.url + path,
        headers={
            "Authorization": "Basic " + base64.b64encode(b"recording-admin:recording-password").decode(),
            "Host": "127.0.0.1",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


def test_record_call_saves_a_recording_per_peer_from_an_extra_seat(
    open_page: OpenPage, site: Site, room_id: str
) -> None:
    site.create_room(room_id, max_peers=2)
    site.create_superuser("recording-admin", "recording-password")
    alice, bob = open_page(f"/call/{room_id}/"), open_page(f"/call/{room_id}/")
    join(alice)
    join(bob)
    wait_connected(alice, bob)
    with site.record_call(room_id) as recorder:
        # The recorder sits in the full room's extra seat; both pages show that the call is being recorded.
        for page in (alice, bob):
            page.locator("#recording-indicator").wait_for(state="visible", timeout=30000)
        started = time.monotonic()
        time.sleep(10)
        ids = {peer_id(alice), peer_id(bob)}
        alice.click("#hangup")
        bob.click("#hangup")
        call_length = time.monotonic() - started
        output = recorder_output(recorder)

    listed = json.loads(api(site, f"/api/recordings/?room={room_id}"))["results"]
    assert {item["stream_id"] for item in listed} == ids, output
    for item in listed:
        assert item["status"] == "complete"
        assert item["mime_type"] == "video/webm"
        assert item["owner"] is None
        assert abs(item["duration"] - call_length) <= 0.1 * call_length, (item["duration"], call_length)
        data = api(site, f"/api/recordings/{item['id']}/download")
        container = av.open(io.BytesIO(data))
        frames = list(container.decode(video=0))
        assert frames
        assert {(f.width, f.height) for f in frames} == {(640, 480)}
        container = av.open(io.BytesIO(data))
        audio = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
        assert audio.size > 48000
        assert np.abs(audio).max() > 0.01
    # The admin lists them, with their download links.
    admin = open_page("/admin/login/?next=/admin/rooms/recording/")
    admin.fill("#id_username", "recording-admin")
    admin.fill("#id_password", "recording-password")
    admin.click("input[type=submit]")
    for item in listed:
        row = admin.locator("#result_list tr", has_text=item["filename"])
        row.wait_for()
        assert row.locator("a", has_text="Download").count() == 1
