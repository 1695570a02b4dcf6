"""Recording a call on the server: each remote peer's audio and video as they arrive, written as they were sent.

A recorder peer takes each peer's encoded VP8 video and Opus audio straight from aiortc's receivers (before its
decoders: nothing is decoded or encoded again, so a 2-core machine records several streams in real time) and muxes
them into a WebM file per peer. aiortc's own ``MediaRecorder`` decodes and re-encodes, and breaks when audio comes
before the first video frame ("Cannot change width after codec is open"); here the file is begun only once the
first video key frame says the picture's size (or, for a peer that sends no video, after ``AUDIO_ONLY_AFTER``
seconds of audio alone), with the audio of the wait kept for it.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
from aiortc import RTCRtpReceiver

from signaling.peer.events import PeerLeft, TrackReceived
from signaling.peer.media import key_frame_requester

if TYPE_CHECKING:
    # The call makes its recordings (WebRTCCall.record): this module needs its type only, not the module.
    from signaling.peer.call import WebRTCCall

logger = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
#: Seconds of audio with no video key frame after which a peer's file is begun without video.
AUDIO_ONLY_AFTER = 3.0
#: Audio packets held while waiting for the first video key frame (at 50 a second: the wait, with room).
MAX_WAITING_AUDIO = 500


@dataclass(frozen=True)
class RecordedStream:
    """A finished file: one peer's audio and video."""

    peer_id: str
    path: Path
    duration: float
    has_video: bool
    has_audio: bool
    #: Video frames written, and received: those before the first key frame, late or repeated are not written.
    video_frames: int
    video_frames_received: int
    width: int | None
    height: int | None


#: Containers VP8 and Opus go into as they are, by file suffix (Ogg: the audio only). MP4 has no standard place
#: for VP8: ``.mp4`` recordings are encoded again (``EncodedFileWriter``).
CONTAINERS = {".webm": "webm", ".mkv": "matroska", ".ogg": "ogg", ".opus": "ogg"}
ENCODED_CONTAINERS = {".mp4": "mp4"}


def container_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CONTAINERS:
        return CONTAINERS[suffix]
    if suffix in ENCODED_CONTAINERS:
        return ENCODED_CONTAINERS[suffix]
    raise ValueError(
        f"Recordings are written as {', '.join([*CONTAINERS, *ENCODED_CONTAINERS])}, "
        f"not {path.suffix or 'a file without a suffix'}"
    )


def vp8_key_frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 key frame (RFC 6386 9.1), None for an inter frame."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return (data[6] | data[7] << 8) & 0x3FFF, (data[8] | data[9] << 8) & 0x3FFF


class PeerStreamWriter:
    """One peer's WebM file, fed with encoded frames in arrival order."""

    def __init__(
        self, peer_id: str, path: Path, expects_video: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.peer_id = peer_id
        self.path = path
        self.format = container_format(path)
        self.expects_video = expects_video and self.format != "ogg"
        self.container: Any = None
        self.video: Any = None
        self.audio: Any = None
        #: When each frame arrives (seconds): a sender's first frame is placed in the file by it.
        self.clock = clock
        self.started = clock()
        self.first_arrival: dict[str, float] = {}
        self.offset: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.first_pts: dict[str, int] = {}
        self.waiting_audio: list[tuple[bytes, int]] = []
        self.video_frames = 0
        self.video_frames_received = 0
        self.size: tuple[int, int] | None = None
        self.closed = False
        #: Called (at most once a second) while the file waits for a video key frame.
        self.request_key_frame: Callable[[], None] | None = None
        self.key_frame_requested = 0.0
        #: The receiver of each kind whose frames are written (``follow``), by number: 1 for the first.
        self.sources: dict[str, int] = {}
        #: Whether the video waits for a key frame of a new sender before it goes on.
        self.awaiting_key_frame = False
        self._unrecordable: set[str] = set()

    def follow(self, receiver: RTCRtpReceiver, decode: bool = False) -> Callable[[], None]:
        """Write what ``receiver`` gets from now on, in place of what the last receiver of its kind got (``sender``).
        ``decode``: aiortc's decoder gets the frames too. Returns the function that stops it."""
        deliver = self.sender(receiver.track.kind)
        if receiver.track.kind == "video":
            self.request_key_frame = key_frame_requester(receiver)
        return tap_encoded_frames(receiver, deliver, decode=decode)

    def sender(self, kind: str) -> Callable[[str, bytes, int], None]:
        """Where the frames of ``kind`` from a new sender go (``deliver(codec name, data, RTP timestamp)``), from now
        on in place of the last sender's: the peer's first, or a new connection's after an SFU node move or a
        re-publish (a new RTP clock, and frames that do not decode with the last sender's)."""
        self.sources[kind] = source = self.sources.get(kind, 0) + 1
        # A new sender's clock starts anywhere: its first packet is placed at its arrival, as the first one's was
        # (``_pts``); what came before it stays where it was, and the file shows the time between as a gap.
        self.offset.pop(kind, None)
        if kind == "video":
            self.awaiting_key_frame = source > 1

        def deliver(codec: str, data: bytes, timestamp: int) -> None:
            if self.sources.get(kind) != source:
                return  # the last of a connection this one replaced: its clock is not the new one's
            name = codec.lower()
            if name == "vp8":
                self.add_video(data, timestamp)
            elif name == "opus":
                self.add_audio(data, timestamp)
            elif name not in self._unrecordable:
                self._unrecordable.add(name)
                logger.warning("Not recording %s from %s: only VP8 and Opus go into WebM", codec, self.peer_id)

        return deliver

    # Timestamps: each sender's RTP clock starts anywhere; placing its first packet at the moment it arrived
    # (relative to the recording's start) keeps audio and video together, and a later sender after the earlier.
    def _pts(self, kind: str, timestamp: int, rate: int) -> int:
        if kind not in self.offset:
            arrived = self.clock()
            self.first_arrival.setdefault(kind, arrived)
            self.offset[kind] = int((arrived - self.started) * rate) - timestamp
        return timestamp + self.offset[kind]

    def _ask_for_key_frame(self) -> None:
        # Nothing before a key frame can be decoded: ask the sender for one (a browser sends them only when asked),
        # at most once a second.
        now = self.clock()
        if self.request_key_frame is not None and now - self.key_frame_requested >= 1.0:
            self.key_frame_requested = now
            self.request_key_frame()

    def add_video(self, data: bytes, timestamp: int) -> None:
        if self.closed or self.format == "ogg":
            return
        pts = self._pts("video", timestamp, 90000)
        self.video_frames_received += 1
        key_frame = vp8_key_frame_size(data)
        if self.container is None:
            if key_frame is None:
                self._ask_for_key_frame()
                return
            self.size = key_frame
            self._open(with_video=True)
        if self.video is None:
            return
        if self.awaiting_key_frame:
            if key_frame is None:
                self._ask_for_key_frame()
                return
            self.awaiting_key_frame = False
        if self._mux(self.video, data, pts, VIDEO_TIME_BASE, "video"):
            self.video_frames += 1

    def add_audio(self, data: bytes, timestamp: int) -> None:
        if self.closed:
            return
        pts = self._pts("audio", timestamp, 48000)
        if self.container is None:
            if len(self.waiting_audio) < MAX_WAITING_AUDIO:
                self.waiting_audio.append((data, pts))
            waited = self.clock() - self.first_arrival["audio"]
            if self.expects_video and waited < AUDIO_ONLY_AFTER:
                return
            self._open(with_video=False)
        self._mux(self.audio, data, pts, AUDIO_TIME_BASE, "audio")

    def _open(self, with_video: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w", format=self.format)
        if with_video and self.size is not None and self.format != "ogg":
            # Encoder contexts give the muxer the streams' parameters (Opus's header among them); they never
            # encode anything: the packets written are the ones received.
            self.video = self.container.add_stream("libvpx", rate=30)
            self.video.width, self.video.height = self.size
            self.video.pix_fmt = "yuv420p"
        self.audio = self.container.add_stream("libopus", rate=48000)
        self.audio.layout = "stereo"
        waiting, self.waiting_audio = self.waiting_audio, []
        for data, pts in waiting:
            self._mux(self.audio, data, pts, AUDIO_TIME_BASE, "audio")

    def _mux(self, stream: Any, data: bytes, pts: int, time_base: fractions.Fraction, kind: str) -> bool:
        if pts <= self.last.get(kind, -1):
            return False  # late or repeated: the container wants each stream's times to grow
        self.last[kind] = pts
        self.first_pts.setdefault(kind, pts)
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = time_base
        packet.pts = packet.dts = pts
        if kind == "video":
            packet.is_keyframe = vp8_key_frame_size(data) is not None
        try:
            self.container.mux(packet)
            return True
        except av.FFmpegError as error:
            logger.warning("Recording of %s: a %s packet could not be written: %s", self.peer_id, kind, error)
            return False

    def close(self) -> RecordedStream | None:
        """Finish the file; None when nothing was written."""
        if self.closed:
            return None
        self.closed = True
        if self.container is None and self.waiting_audio:
            self._open(with_video=False)
        if self.container is None:
            return None
        self.container.close()
        ends = []
        for kind, rate in (("video", 90000), ("audio", 48000)):
            if kind in self.last:
                ends.append((self.last[kind] - self.first_pts[kind]) / rate)
        return RecordedStream(
            peer_id=self.peer_id,
            path=self.path,
            duration=max(ends, default=0.0),
            has_video=self.video is not None,
            has_audio="audio" in self.last,
            video_frames=self.video_frames,
            video_frames_received=self.video_frames_received,
            width=self.size[0] if self.size else None,
            height=self.size[1] if self.size else None,
        )


class _Taps:
    """What listens to one receiver's encoded frames, and whether aiortc still decodes them."""

    def __init__(self, original: Callable[..., None]) -> None:
        self.original = original
        self.listeners: list[Callable[[str, bytes, int], None]] = []
        self.decode = False

    def put(self, item: Any, *args: Any, **kwargs: Any) -> None:
        if item is not None:
            codec, frame = item
            data, timestamp = bytes(frame.data), int(frame.timestamp)
            for deliver in list(self.listeners):
                try:
                    deliver(codec.name, data, timestamp)
                except Exception:
                    logger.exception("An encoded frame could not be recorded")
            if not self.decode:
                return
        self.original(item, *args, **kwargs)


def tap_encoded_frames(
    receiver: RTCRtpReceiver, deliver: Callable[[str, bytes, int], None], decode: bool = False
) -> Callable[[], None]:
    """Hand every encoded frame the receiver completes to ``deliver(codec name, data, timestamp)`` (on the event
    loop). Unless some tap asks to ``decode``, aiortc's decoder no longer gets the frames: a recorder needs no
    pictures. Returns a function that removes this tap.

    aiortc puts each frame its jitter buffer completes on the receiver's decoder queue (``None`` when the receiver
    stops); the taps wrap that queue's ``put``.
    """
    queue = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
    taps: _Taps | None = getattr(queue, "rtc_taps", None)
    if taps is None:
        taps = _Taps(queue.put)
        queue.rtc_taps = taps
        queue.put = taps.put
    taps.listeners.append(deliver)
    taps.decode = taps.decode or decode
    return lambda: taps.listeners.remove(deliver) if deliver in taps.listeners else None


class CallRecorder:
    """Records every other peer of a call, one WebM file each, as its media arrives: a file ends when its peer
    leaves (or the recording stops) and goes to ``on_saved``. A peer that drops and resumes keeps its file (same
    peer, same connection); one that comes back as a new peer gets a new file.

    The call should accept VP8 only (``WebRTCCall(..., video_codecs=("VP8",))``): its frames go into WebM as they
    are. Peers with a role (other recorders, agents) are recorded too; ``run()`` ends once no participant is left.
    """

    def __init__(
        self,
        call: WebRTCCall,
        folder: Path,
        on_saved: Callable[[RecordedStream], Any] | None = None,
    ) -> None:
        self.call = call
        self.folder = folder
        self.on_saved = on_saved
        self.writers: dict[str, PeerStreamWriter] = {}
        self.saved: list[RecordedStream] = []
        self._pending: set[asyncio.Task[None]] = set()
        call.on(TrackReceived, self._on_track)
        call.on(PeerLeft, self._on_left)

    def _writer(self, peer_id: str) -> PeerStreamWriter:
        writer = self.writers.get(peer_id)
        if writer is None:
            path = self.folder / f"{peer_id}-{time.strftime('%Y%m%dT%H%M%S')}.webm"
            writer = self.writers[peer_id] = PeerStreamWriter(peer_id, path, expects_video=True)
        return writer

    def _on_track(self, event: TrackReceived) -> None:
        receiver = self.call.track_receiver(event.peer_id, event.track.kind)
        if receiver is None:
            return
        # A peer seen before keeps its file: its new track comes from a new connection (after an SFU node move,
        # the recorder's own or the peer's), and the writer follows it from here.
        self._writer(event.peer_id).follow(receiver)

    def _on_left(self, event: PeerLeft) -> None:
        writer = self.writers.pop(event.peer_id, None)
        if writer is not None:
            self._finish(writer)

    def _finish(self, writer: PeerStreamWriter) -> None:
        stream = writer.close()
        if stream is None:
            return
        self.saved.append(stream)
        if self.on_saved is not None:
            result = self.on_saved(stream)
            if asyncio.iscoroutine(result):
                task: asyncio.Task[None] = asyncio.ensure_future(result)
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def participants(self) -> list[str]:
        return [peer_id for peer_id in self.call.remote_peer_ids if peer_id not in self.call.roles]

    async def run(self, empty_for: float = 3.0) -> list[RecordedStream]:
        """Record until the call ends or no participant has been in the room for ``empty_for`` seconds; then
        finish every file. Returns what was saved."""
        empty_since: float | None = None
        while self.call.state not in ("disconnected", "failed"):
            if self.participants():
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= empty_for:
                break
            await asyncio.sleep(0.2)
        return await self.stop()

    async def stop(self) -> list[RecordedStream]:
        for peer_id in list(self.writers):
            self._finish(self.writers.pop(peer_id))
        if self._pending:
            await asyncio.gather(*self._pending)
        return list(self.saved)


class EncodedFileWriter:
    """One peer's decoded audio and video encoded again into MP4 (H.264 and AAC): the container has no place for
    VP8, so this is the one case where frames are encoded again (about a core for a 640x480 30 fps stream).

    The file is opened only once the first video frame gives the picture's size (or after ``AUDIO_ONLY_AFTER``
    seconds of audio alone); audio decoded meanwhile is kept for it, so no audio frame is ever encoded before the
    video stream exists (what breaks aiortc's ``MediaRecorder``).
    """

    def __init__(self, peer_id: str, path: Path, tracks: list[Any]) -> None:
        self.peer_id = peer_id
        self.path = path
        self.tracks = tracks
        self.container: Any = None
        self.video: Any = None
        self.audio: Any = None
        self.waiting_audio: list[Any] = []
        self.started = time.monotonic()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.video_frames = 0
        self.size: tuple[int, int] | None = None
        self.closed = False
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        self._audio_samples = 0
        self._tasks = [asyncio.ensure_future(self._read(track)) for track in tracks]
        self.expects_video = any(track.kind == "video" for track in tracks)

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while not self.closed:
                frame = await track.recv()
                now = time.monotonic() - self.started
                self.first.setdefault(track.kind, now)
                self.last[track.kind] = now
                if track.kind == "video":
                    self._video(frame, now)
                else:
                    self._audio(frame)
        except MediaStreamError:
            pass

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w", format="mp4")
        if self.size is not None:
            self.video = self.container.add_stream("libx264", rate=30)
            self.video.width, self.video.height = self.size
            self.video.pix_fmt = "yuv420p"
            self.video.time_base = fractions.Fraction(1, 1000)
            self.video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self.audio = self.container.add_stream("aac", rate=48000)
        self.audio.layout = "stereo"
        waiting, self.waiting_audio = self.waiting_audio, []
        for frame in waiting:
            self._encode_audio(frame)

    def _video(self, frame: Any, now: float) -> None:
        if self.container is None:
            self.size = (frame.width, frame.height)
            self._open()
        if self.video is None or (frame.width, frame.height) != self.size:
            return
        picture = frame.reformat(format="yuv420p")
        picture.pts = int(now * 1000)
        picture.time_base = fractions.Fraction(1, 1000)
        if picture.pts <= getattr(self, "_last_video_pts", -1):
            return
        self._last_video_pts = picture.pts
        for packet in self.video.encode(picture):
            self.container.mux(packet)
        self.video_frames += 1

    def _audio(self, frame: Any) -> None:
        if self.container is None:
            self.waiting_audio.append(frame)
            if self.expects_video and time.monotonic() - self.started - self.first["audio"] < AUDIO_ONLY_AFTER:
                return
            self._open()
            return
        self._encode_audio(frame)

    def _encode_audio(self, frame: Any) -> None:
        frame.pts = None
        for converted in self._resampler.resample(frame):
            converted.pts = self._audio_samples
            converted.time_base = fractions.Fraction(1, 48000)
            self._audio_samples += converted.samples
            for packet in self.audio.encode(converted):
                self.container.mux(packet)

    def close(self) -> RecordedStream | None:
        if self.closed:
            return None
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for track in self.tracks:
            track.stop()
        if self.container is None and self.waiting_audio:
            self._open()
        if self.container is None:
            return None
        for stream in (self.video, self.audio):
            if stream is not None:
                for packet in stream.encode(None):
                    self.container.mux(packet)
        self.container.close()
        spans = [self.last[kind] - self.first[kind] for kind in self.first]
        return RecordedStream(
            peer_id=self.peer_id,
            path=self.path,
            duration=max(spans, default=0.0),
            has_video=self.video is not None,
            has_audio=self._audio_samples > 0,
            video_frames=self.video_frames,
            video_frames_received=self.video_frames,
            width=self.size[0] if self.size else None,
            height=self.size[1] if self.size else None,
        )


class PeerRecording:
    """One remote peer's audio and video written to a file as they arrive (``WebRTCCall.record``), until
    ``stop()`` or the peer leaves: as received into WebM, Matroska or Ogg; encoded again into MP4. The call's own
    use of the tracks is unchanged (they are still decoded)."""

    def __init__(self, call: WebRTCCall, peer_id: str, path: Path) -> None:
        if peer_id not in call.remote_peer_ids:
            raise ValueError(f"{peer_id} is not in the room")
        self.call = call
        self.peer_id = peer_id
        self.result: RecordedStream | None = None
        self._untaps: list[Callable[[], None]] = []
        self._tapped: set[int] = set()
        self.encoded: EncodedFileWriter | None = None
        if container_format(path) == "mp4":
            # Decoded frames, encoded again: the tracks the peer sends now (a later one is not added).
            self.encoded = EncodedFileWriter(peer_id, path, call.remote_tracks(peer_id))
            self._listeners = [call.on(PeerLeft, lambda event: self._finish() if event.peer_id == peer_id else None)]
            return
        self.writer = PeerStreamWriter(peer_id, path, expects_video=True)
        for kind in ("audio", "video"):
            self._tap(call.track_receiver(peer_id, kind))
        self._listeners = [
            call.on(
                TrackReceived,
                lambda event: (
                    self._tap(call.track_receiver(event.peer_id, event.track.kind))
                    if event.peer_id == peer_id
                    else None
                ),
            ),
            call.on(PeerLeft, lambda event: self._finish() if event.peer_id == peer_id else None),
        ]

    def _tap(self, receiver: RTCRtpReceiver | None) -> None:
        if receiver is None or id(receiver) in self._tapped or self.writer.closed:
            return
        self._tapped.add(id(receiver))
        self._untaps.append(self.writer.follow(receiver, decode=True))

    def _finish(self) -> RecordedStream | None:
        for remove in self._untaps + self._listeners:
            remove()
        self._untaps, self._listeners = [], []
        if self.encoded is not None:
            if not self.encoded.closed:
                self.result = self.encoded.close()
        elif not self.writer.closed:
            self.result = self.writer.close()
        return self.result

    @property
    def recording(self) -> bool:
        return not (self.encoded.closed if self.encoded is not None else self.writer.closed)

    async def stop(self) -> RecordedStream | None:
        """Finish the file; what was written (None if nothing arrived)."""
        return self._finish()
