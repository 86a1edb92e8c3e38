"""Video decoding: decord first, PyAV for files decord cannot open, raw YUV420p.

>>> from qclip_plugin.video import open_video
>>> with open_video("clip.mp4", size=(336, 336)) as reader:   # doctest: +SKIP
...     frames = reader.get_batch([0, 10, 20])                  # uint8 (3, 336, 336, 3)

Every unreadable video raises :class:`VideoReadError`.
"""

from qclip_plugin.video.decord_reader import DecordReader
from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.guard import HeaderInfo, check_header, check_in_subprocess
from qclip_plugin.video.open import BACKENDS, GUARDS, open_video, video_info
from qclip_plugin.video.pyav_reader import PyAVReader
from qclip_plugin.video.reader import VideoReader, as_size
from qclip_plugin.video.yuv_reader import DEFAULT_YUV_FPS, DEFAULT_YUV_GEOMETRY, YUVReader

__all__ = [
    "BACKENDS",
    "DEFAULT_YUV_FPS",
    "DEFAULT_YUV_GEOMETRY",
    "GUARDS",
    "DecordReader",
    "HeaderInfo",
    "PyAVReader",
    "VideoReadError",
    "VideoReader",
    "YUVReader",
    "as_size",
    "check_header",
    "check_in_subprocess",
    "open_video",
    "video_info",
]
