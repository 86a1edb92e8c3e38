"""The embedded synthetic demo VQA benchmark: procedural content, seven distortions, pseudo-MOS from SSIM.

It is synthetic: no human rated these clips. It exists so that the benchmark
protocols run end to end on a fresh machine with no download; its numbers say
nothing about real-world VQA performance.

>>> from qclip_plugin.data.synthetic import generate_demo_benchmark
>>> bench = generate_demo_benchmark(seed=0)       # ~244 clips in the user cache, reused next time
>>> bench.labels["A"], bench.labels["B"], bench.metadata
"""

from qclip_plugin.data.synthetic.config import DEFAULT_PARTS, ClipSpec, DemoConfig, DemoPart, plan_clips
from qclip_plugin.data.synthetic.content import CONTENT_KINDS, register_content, render_content
from qclip_plugin.data.synthetic.distortions import DISTORTIONS, Distortion, apply_distortion
from qclip_plugin.data.synthetic.generate import DemoBenchmark, default_root, generate_demo_benchmark
from qclip_plugin.data.synthetic.pseudo_mos import frame_ssim, ssim_to_mos, video_ssim

__all__ = [
    "CONTENT_KINDS",
    "DEFAULT_PARTS",
    "DISTORTIONS",
    "ClipSpec",
    "DemoBenchmark",
    "DemoConfig",
    "DemoPart",
    "Distortion",
    "apply_distortion",
    "default_root",
    "frame_ssim",
    "generate_demo_benchmark",
    "plan_clips",
    "register_content",
    "render_content",
    "ssim_to_mos",
    "video_ssim",
]
