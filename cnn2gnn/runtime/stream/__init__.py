"""Live classification of camera, RTSP, video and image-folder streams (``cnn2gnn run``), torch-free.

Only numpy, OpenCV and the model's backend are needed: this runs on a Jetson as it runs on a desktop.
"""

from cnn2gnn.runtime.stream.run import StreamConfig, run_stream

__all__ = ["StreamConfig", "run_stream"]
