"""Live classification of camera, RTSP, video and image-folder streams (``cnn2gnn run``), torch-free.

Only numpy, OpenCV and the model's backend are needed: this runs on a Jetson as it runs on a desktop.
"""

from cnn2gnn.runtime.stream.run import run_stream
from cnn2gnn.runtime.stream.stream_config import StreamConfig

__all__ = ["StreamConfig", "run_stream"]
