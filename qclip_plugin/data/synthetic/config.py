"""What a demo benchmark contains: parts, clip plan, and the seeds of every clip.

The default is two parts of 16-frame 112x112 clips at 8 fps (DESIGN.md §8):

- part ``A`` (160 clips): six content kinds; blur, noise, H.264, scaling and exposure,
  each applied at its four levels to eight sources (40 sources);
- part ``B`` (84 clips): new content (other seeds) with the same five distortions (three
  sources each) plus two that part ``A`` never shows, frame drops and posterisation (three
  sources each; 21 sources). Sharing most distortion types is what makes transfer from
  ``A`` to ``B`` measurable: a model trained on ``A`` does not transfer to distortion
  types it never saw (DESIGN.md §8), so report ``B`` per distortion type too.

Frame drops are kept out of ``A``: Q-CLIP scores frames independently and averages them,
so a clip with dropped frames looks pristine frame by frame while its SSIM-based MOS
falls (DESIGN.md §8); in ``A`` they only taught the model noise. The level parameters
(``distortions.py``) are set so that every distortion spans about the same pseudo-MOS
range (~4.5 at level 1 to ~2 at level 4): with one distortion much milder than the
others, a model learns "looks like that distortion, so good", which inverts the ranking
within it. Content kinds rotate over a part's sources (in ``A`` six or seven sources each).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from qclip_plugin.data.synthetic.content import CONTENT_KINDS
from qclip_plugin.data.synthetic.distortions import DISTORTIONS

# Bump when a change in the generation code changes the clips: cached sets then regenerate.
GENERATOR_VERSION = "v4"

DEFAULT_CONTENT_KINDS = ("texture", "gradient", "shapes", "pan", "checkerboard", "particles")
SHARED_DISTORTIONS = ("blur", "noise", "h264", "scaling", "exposure")


@dataclass(frozen=True)
class DemoPart:
    """One part of the demo set: its name (a folder and a label-file suffix) and its clip plan.

    ``distortions`` lists ``(kind, clips_per_level)``; every kind is used at all its levels.
    """

    name: str
    distortions: tuple[tuple[str, int], ...]
    content_kinds: tuple[str, ...] = DEFAULT_CONTENT_KINDS

    @property
    def num_clips(self) -> int:
        return sum(DISTORTIONS[kind].num_levels * n for kind, n in self.distortions)


DEFAULT_PARTS = (
    DemoPart("A", tuple((kind, 8) for kind in SHARED_DISTORTIONS)),
    DemoPart("B", (*((kind, 3) for kind in SHARED_DISTORTIONS), ("frame_drop", 3), ("posterize", 3))),
)


@dataclass(frozen=True)
class DemoConfig:
    """Parameters of a demo set. Together with the seed they determine every pixel and label.

    ``q_mid`` / ``q_scale`` are the SSIM-dB logistic of :func:`~.pseudo_mos.ssim_to_mos`.
    """

    parts: tuple[DemoPart, ...] = DEFAULT_PARTS
    num_frames: int = 16
    size: tuple[int, int] = (112, 112)  # (height, width)
    fps: float = 8.0
    q_mid: float = 6.0
    q_scale: float = 3.0
    x264_preset: str = "medium"

    def __post_init__(self) -> None:
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise ValueError(f"part names must be distinct identifiers, got {names}")
        for part in self.parts:
            for kind in part.content_kinds:
                if kind not in CONTENT_KINDS:
                    raise ValueError(f"part {part.name}: unknown content kind {kind!r}; known: {sorted(CONTENT_KINDS)}")
            for kind, n in part.distortions:
                if kind not in DISTORTIONS:
                    raise ValueError(f"part {part.name}: unknown distortion {kind!r}; known: {sorted(DISTORTIONS)}")
                if n < 1:
                    raise ValueError(f"part {part.name}: {kind} needs at least one clip per level, got {n}")
        if self.size[0] % 2 or self.size[1] % 2 or min(self.size) < 32:
            raise ValueError(f"size must be even and at least 32x32 (SSIM's 11x11 window), got {self.size}")

    def param_hash(self, seed: int) -> str:
        """SHA-256 of everything that determines the generated files (config, seed, level tables)."""
        payload = {
            "generator": GENERATOR_VERSION,
            "seed": int(seed),
            "config": asdict(self),
            "distortions": {k: list(DISTORTIONS[k].params) for k in sorted(DISTORTIONS)},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ClipSpec:
    """One planned clip: where it goes and everything needed to regenerate it."""

    part: str
    index: int
    source: int  # pristine source within the part; its levels share it
    content_kind: str
    content_seed: int
    distortion: str
    level: int
    param: float
    distortion_seed: int
    path: str = field(default="")  # relative to the benchmark root


def _child_seed(seed: int, *key: int) -> int:
    # independent streams per (part, clip, purpose); 64-bit, so parts never share content seeds in practice
    return int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, np.uint64)[0])


def plan_clips(config: DemoConfig, seed: int) -> list[ClipSpec]:
    """Every clip of every part, in generation order (deterministic in ``config`` and ``seed``).

    Each distortion kind gets ``clips_per_level`` sources (pristine clips, each of its
    own content seed) and distorts every source at every level, as in LIVE-style
    databases: within a source the level alone changes the quality. Sources are never
    shared between distortion kinds or parts. Content kinds rotate over a part's sources.
    """
    clips: list[ClipSpec] = []
    for p, part in enumerate(config.parts):
        source = index = 0
        for kind, per_level in part.distortions:
            dist = DISTORTIONS[kind]
            for _ in range(per_level):
                content = part.content_kinds[source % len(part.content_kinds)]
                content_seed = _child_seed(seed, p, 0, source)
                # one distortion seed per source: its levels then nest (the same noise field
                # scaled, the same frames dropped plus more, the same exposure direction)
                distortion_seed = _child_seed(seed, p, 1, source)
                for level in range(1, dist.num_levels + 1):
                    name = f"{part.name.lower()}{index:03d}_{content}_{kind}_L{level}.mp4"
                    clips.append(
                        ClipSpec(
                            part=part.name,
                            index=index,
                            source=source,
                            content_kind=content,
                            content_seed=content_seed,
                            distortion=kind,
                            level=level,
                            param=dist.param(level),
                            distortion_seed=distortion_seed,
                            path=f"{part.name}/{name}",
                        )
                    )
                    index += 1
                source += 1
    return clips
