"""A real RTSP server on loopback for the tests, run as its own process by a Python that has GStreamer's
RTSP server bindings (Debian: /usr/bin/python3 with python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-rtsp, -plugins-base/-good/-ugly). Not a test module: pytest never imports it.

    /usr/bin/python3 rtsp_server_process.py --frames DIR --port 0 --fps 25 --lifetime 60

serves, bound to 127.0.0.1 only:
    /digits  the PNG frames DIR/frame_1.png ... in order, looped, as H.264 (every frame a key frame,
             constant quantiser --qp; 0 is lossless)
    /clock   frames whose 8x8 grid of black/white blocks is the wall-clock time in ms when each was sent
             (time.time()), so a reader measures sender-to-reader latency across processes
prints "READY <port>" once listening, and exits by itself after --lifetime seconds (or on SIGTERM).
`--check` prints what is missing instead ("OK" if nothing).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

CLOCK_SIDE, CLOCK_BITS = 128, 64  # 128x128 frames, an 8x8 grid of 16-pixel blocks: 64 bits, robust to H.264
ELEMENTS = ("multifilesrc", "pngdec", "videoconvert", "x264enc", "rtph264pay", "appsrc", "videorate")


def missing() -> list[str]:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst, GstRtspServer  # noqa: F401
    except (ImportError, ValueError) as exc:
        return [f"GStreamer RTSP server bindings ({exc})"]
    Gst.init(None)
    return [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]


def clock_frame(ms: int) -> bytes:
    block = CLOCK_SIDE // 8
    rows = []
    for by in range(8):
        row = bytearray()
        for bx in range(8):
            row += (b"\xff" if (ms >> (by * 8 + bx)) & 1 else b"\x00") * block
        rows.append(bytes(row) * block)
    return b"".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--qp", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    lacking = missing()
    if args.check:
        print("OK" if not lacking else "missing: " + ", ".join(lacking))
        return 0
    if lacking:
        print("missing: " + ", ".join(lacking), file=sys.stderr)
        return 2

    from gi.repository import GLib, Gst, GstRtspServer

    encode = (f"videoconvert ! video/x-raw,format=Y444 ! x264enc tune=zerolatency speed-preset=ultrafast "
              f"key-int-max=1 pass=quant quantizer={args.qp} ! video/x-h264,profile=high-4:4:4-intra "
              "! rtph264pay name=pay0 pt=96 config-interval=1")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    digits = GstRtspServer.RTSPMediaFactory()
    digits.set_launch(f"( multifilesrc location={args.frames}/frame_%d.png index=1 loop=true "
                      f"caps=image/png,framerate={args.fps}/1 ! pngdec ! {encode} )")
    mounts.add_factory("/digits", digits)

    clock = GstRtspServer.RTSPMediaFactory()
    clock.set_launch(f"( appsrc name=src is-live=true do-timestamp=true format=time "
                     f"caps=video/x-raw,format=GRAY8,width={CLOCK_SIDE},height={CLOCK_SIDE},framerate={args.fps}/1 "
                     f"! {encode} )")

    def on_configure(_factory, media) -> None:
        src = media.get_element().get_by_name("src")

        def push() -> bool:
            data = clock_frame(int(time.time() * 1000) & ((1 << CLOCK_BITS) - 1))
            return src.emit("push-buffer", Gst.Buffer.new_wrapped(data)) == Gst.FlowReturn.OK

        timer = GLib.timeout_add(int(1000 / args.fps), push)
        media.connect("unprepared", lambda *_: GLib.source_remove(timer) if GLib.MainContext.default()
                      .find_source_by_id(timer) else None)

    clock.connect("media-configure", on_configure)
    mounts.add_factory("/clock", clock)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 3
    GLib.timeout_add(int(args.lifetime * 1000), loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
