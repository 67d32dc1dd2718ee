"""Frame sources for ``cnn2gnn run``: one module per kind of SOURCE string, registered here.

``registry.source_from_spec`` turns a SOURCE string into an unopened :class:`~.base.FrameSource`;
``registry.source_help`` is the CLI's SOURCE help. A new kind of source is a new module plus one
:func:`~.registry.register_source` call below; the order of the calls is the order in which
scheme-less strings are tried (and the order of the help).
"""

from cnn2gnn.runtime.stream.sources.camera import camera_source, is_camera_index, v4l2_source
from cnn2gnn.runtime.stream.sources.csi import csi_source
from cnn2gnn.runtime.stream.sources.gstreamer_pipeline import gstreamer_source, is_pipeline
from cnn2gnn.runtime.stream.sources.image_files import glob_source, is_glob
from cnn2gnn.runtime.stream.sources.local_files import is_existing_path, local_source
from cnn2gnn.runtime.stream.sources.registry import register_source
from cnn2gnn.runtime.stream.sources.rtsp import rtsp_source
from cnn2gnn.runtime.stream.sources.synthetic import synthetic_source

register_source("camera", "camera index (0)", camera_source, matches=is_camera_index)
register_source("v4l2", "v4l2:///dev/videoN", v4l2_source, schemes=("v4l2",))
register_source("csi", "csi://N (Jetson CSI camera, needs OpenCV with GStreamer)", csi_source, schemes=("csi",))
register_source("rtsp", "rtsp://HOST/PATH", rtsp_source, schemes=("rtsp", "rtsps"))
register_source("file", "file://PATH or a video path", local_source, schemes=("file",), matches=is_existing_path)
register_source("gstreamer", "a GStreamer pipeline ending in appsink", gstreamer_source, matches=is_pipeline)
register_source("images", "an image folder or a glob ('frames/*.png')", glob_source, matches=is_glob)
register_source("synthetic", "synthetic://WxH?frames=N&fps=F&live=1 (generated test frames)", synthetic_source,
                schemes=("synthetic",))
