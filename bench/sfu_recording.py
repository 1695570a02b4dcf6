"""Recording an SFU room, two ways: ``.venv/bin/python -m bench.sfu_recording`` (``--quick`` for a short run).

The same room (Python peers publishing 120x90 video at 15 fps and a tone, as ``bench.sfu``; the reference project
under daphne, SQLite; a Janus of its own) is measured three times, each in a fresh room:

1. not recorded;
2. recorded by the recorder peer (``manage.py record_call ROOM``, what the site's "Record" starts): a Python peer
   that subscribes to every participant through Janus and writes their encoded VP8 and Opus into one WebM file each,
   saved as a ``Recording`` when its peer leaves;
3. recorded by Janus itself (the VideoRoom's ``enable_recording``: one ``.mjr`` file per stream), then what turning
   those into one playable file per participant takes: ``janus-pp-rec`` for each ``.mjr`` (``janus-tools``) and a
   remux of each participant's video and audio into one WebM (PyAV, no transcoding).

For each: the participants' frames delivered and upload (a recording must cost them nothing), the CPU of Janus, of
the signaling worker and of the recorder (cores, over the window); then what was recorded (files, seconds, video
frames per second in the files, read back with PyAV) and the time from the last participant's leaving to files a
site can serve (the recorder peer: to its ``Recording`` rows; Janus: the post-processing, run after the call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.peer import migrated_site
from bench.sfu import SIGNAL_PATH, Bench, line
from rtcsite.servers import ROOT, DaphneProcess, JanusProcess

#: Janus names a VideoRoom recording ``videoroom-<room>-user-<participant>-<time>-<kind>-<mindex>.mjr``.
MJR_NAME = re.compile(r"-user-(?P<peer>.+)-\d+-(?P<kind>audio|video)-\d+\.mjr$")


def file_summary(path: Path) -> tuple[float, int]:
    """Seconds of video (first to last video packet) and the video frames in a media file, read back with PyAV."""
    import av

    with av.open(str(path)) as container:
        video = next((stream for stream in container.streams if stream.type == "video"), None)
        if video is None:
            return 0.0, 0
        stamps = [
            float(packet.pts * packet.time_base)
            for packet in container.demux(video)
            if packet.pts is not None and packet.size
        ]
    return (max(stamps) - min(stamps) if stamps else 0.0), len(stamps)


def remux(video: Path, audio: Path | None, output: Path) -> None:
    """One WebM of a participant's video and audio, packets copied as they are (no transcoding)."""
    import av

    sources = [av.open(str(video))] + ([av.open(str(audio))] if audio is not None else [])
    try:
        with av.open(str(output), "w", format="webm") as out:
            copies = []
            for source in sources:
                stream = next(s for s in source.streams if s.type in ("video", "audio"))
                copies.append((source, stream, out.add_stream_from_template(stream)))
            for source, stream, copy in copies:
                for packet in source.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.stream = copy
                    out.mux(packet)
    finally:
        for source in sources:
            source.close()


async def janus_recording(janus: JanusProcess, room_id: str, folder: Path | None) -> None:
    """Start Janus's own recording of ``room_id``'s Janus room into ``folder`` (None: stop it)."""
    from signaling.sfu.janus import JanusConnection, JanusError
    from signaling.sfu.videoroom import JanusRoom

    room = JanusRoom.of(room_id, janus.admin_key)
    connection = JanusConnection(janus.url, janus.api_secret)
    await connection.connect()
    try:
        session = await connection.create_session()
        handle = await session.attach()
        if folder is not None:
            await handle.message(
                {"request": "edit", "room": room.janus_id, "secret": room.secret, "new_rec_dir": str(folder)}
            )
        try:
            await handle.message(
                {
                    "request": "enable_recording",
                    "room": room.janus_id,
                    "secret": room.secret,
                    "record": folder is not None,
                }
            )
        except JanusError:
            if folder is not None:
                raise  # stopping a room that has ended already (its files are closed) is no failure
        await session.destroy()
    finally:
        await connection.close()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def post_process(folder: Path) -> dict[str, float]:
    """``janus-pp-rec`` on every ``.mjr`` of ``folder``, then one WebM per participant; what it took."""
    streams: dict[str, dict[str, Path]] = defaultdict(dict)
    for mjr in sorted(folder.glob("*.mjr")):
        found = MJR_NAME.search(mjr.name)
        if found is not None:
            streams[found["peer"]][found["kind"]] = mjr
    started, cpu_before = time.monotonic(), children_cpu()
    this_before = time.process_time()
    outputs = []
    for peer, kinds in streams.items():
        converted: dict[str, Path] = {}
        for kind, mjr in kinds.items():
            target = mjr.with_suffix(".webm" if kind == "video" else ".opus")
            subprocess.run(["janus-pp-rec", str(mjr), str(target)], check=True, capture_output=True)
            converted[kind] = target
        if "video" in converted:
            output = folder / f"{peer}.webm"
            remux(converted["video"], converted.get("audio"), output)
            outputs.append(output)
    seconds = time.monotonic() - started
    cpu = children_cpu() - cpu_before + time.process_time() - this_before
    recorded = [file_summary(output) for output in outputs]
    return {
        "files": len(outputs),
        "mjr": sum(len(kinds) for kinds in streams.values()),
        "mjr_bytes": sum(mjr.stat().st_size for kinds in streams.values() for mjr in kinds.values()),
        "seconds": sum(duration for duration, _ in recorded),
        "frames": sum(frames for _, frames in recorded),
        "post_seconds": seconds,
        "post_cpu": cpu,
    }


def recorded_files(media: Path, room_id: str) -> list[Path]:
    """The files of the room's ``Recording`` rows (stored under a folder named by the room)."""
    return [path for path in media.rglob("*") if path.is_file() and room_id in str(path.relative_to(media))]


WAYS = ("not recorded", "recorder peer", "Janus recording")


class RecordingBench:
    """One room of ``size`` measured as ``bench.sfu`` does, recorded one of the ``WAYS``."""

    def __init__(self, bench: Bench, media: Path, window: float) -> None:
        self.bench, self.media, self.window = bench, media, window
        self.signal_url = bench.daphne.ws_url + SIGNAL_PATH

    def run(self, way: str, size: int) -> None:
        room_id = self.bench.room("sfu", size)
        folder = Path(tempfile.mkdtemp(prefix="janus-rec-", dir=self.bench.workdir))
        recorder: list[subprocess.Popen[str]] = []

        def alongside(room_id: str) -> list[int]:
            # Called once every participant has started: the recording begins with them all in the room.
            if way == "recorder peer":
                command = [sys.executable, "manage.py", "record_call", room_id, "--url", self.signal_url]
                recorder.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env={**os.environ, **self.bench.env},
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
                return [recorder[0].pid]
            if way == "Janus recording":
                asyncio.run(janus_recording(self.bench.janus, room_id, folder))
            return []

        got = self.bench.measure("sfu", size, 4.0, self.window, alongside, room_id=room_id)
        left_at = time.monotonic()  # the participants have hung up
        name = f"{way}, room of {size}:"
        line(
            f"{name} frames delivered (worst, all), upload per client",
            f"{100 * got['worst']:.1f}%, {100 * got['all']:.1f}%, {got['upload']:.0f} kbit/s",
        )
        line(
            f"{name} CPU of Janus, daphne, the recorder (cores)",
            f"{got['janus_cpu']:.2f}, {got['cpu'] - got['janus_cpu']:.2f}, {got['alongside_cpu']:.2f}",
        )
        if recorder:
            output, _ = recorder[0].communicate(timeout=120)
            saved_in = time.monotonic() - left_at
            if recorder[0].returncode != 0:
                print(output, file=sys.stderr)
            summaries = [file_summary(path) for path in recorded_files(self.media, room_id)]
            seconds = sum(duration for duration, _ in summaries)
            frames = sum(count for _, count in summaries)
            line(
                f"{name} WebM files, seconds recorded, video fps in them",
                f"{len(summaries)}, {seconds:.1f} s, {frames / seconds if seconds else 0:.1f}",
            )
            line(f"{name} left to Recording rows (3 s of empty room)", f"{saved_in:.1f} s")
        if way == "Janus recording":
            asyncio.run(janus_recording(self.bench.janus, room_id, None))
            done = post_process(folder)
            fps = done["frames"] / done["seconds"] if done["seconds"] else 0.0
            line(
                f"{name} .mjr files (MB), WebM files made of them",
                f"{done['mjr']:.0f} ({done['mjr_bytes'] / 1e6:.1f}), {done['files']:.0f}",
            )
            line(f"{name} seconds recorded, video fps in them", f"{done['seconds']:.1f} s, {fps:.1f}")
            line(
                f"{name} janus-pp-rec + remux after the call (wall, CPU)",
                f"{done['post_seconds']:.2f} s, {done['post_cpu']:.2f} s",
            )
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sfu_recording", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="an 8 s window, a room of 4")
    parser.add_argument("--sizes", default="4,6", help="room sizes, smallest first")
    options = parser.parse_args()
    sizes = [4] if options.quick else [int(size) for size in options.sizes.split(",")]
    window = 8.0 if options.quick else 20.0
    workdir, env = migrated_site("bench-sfu-recording-")
    with JanusProcess() as janus:
        sfu = {"SFU_JANUS_URL": janus.url, "SFU_API_SECRET": janus.api_secret, "SFU_ADMIN_KEY": janus.admin_key}
        # The recorder is a seat of its own, besides the participants.
        env["SIGNALING_SETTINGS"] = json.dumps({**sfu, "SFU_MAX_PEERS": max(sizes) + 1})
        with DaphneProcess(
            env, settings_module="tests.browser.settings", application="tests.browser.asgi:application"
        ) as daphne:
            bench = RecordingBench(Bench(workdir, janus, daphne, env), Path(env["RTCSITE_MEDIA_ROOT"]), window)
            print(f"bench.sfu_recording: {os.cpu_count()} cores, 120x90 video at 15 fps, {window:g} s windows")
            for size in sizes:
                for way in WAYS:
                    bench.run(way, size)


if __name__ == "__main__":
    main()
