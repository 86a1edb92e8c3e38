"""Procedural source content for the synthetic demo benchmark.

Every generator is a pure function of a ``numpy.random.Generator`` and returns
pristine ``uint8`` frames ``(T, H, W, 3)`` (RGB). All of them move, so that the
frame-difference samplers (eq. 13) see a non-trivial profile, and they differ in
spatial frequency content, edges and motion so that distortions hurt them
differently (banding is nearly invisible on a texture). :func:`render_content` then
gives every source the same fine detail and contrast (:func:`_natural_statistics`):
without it a blurred gradient was as good as a pristine one by SSIM (MOS 4.97 at every
blur level), so part A's MOS said more about the content kind than about the distortion.

Add a kind with :func:`register_content`; its name becomes valid in
:class:`~qclip_plugin.data.synthetic.config.DemoConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter

ContentFn = Callable[[np.random.Generator, int, tuple[int, int]], np.ndarray]

CONTENT_KINDS: dict[str, ContentFn] = {}


def register_content(name: str) -> Callable[[ContentFn], ContentFn]:
    """Decorator adding a content generator to :data:`CONTENT_KINDS`."""

    def wrap(fn: ContentFn) -> ContentFn:
        if name in CONTENT_KINDS:
            raise ValueError(f"content kind {name!r} is already registered")
        CONTENT_KINDS[name] = fn
        return fn

    return wrap


def render_content(kind: str, seed: int, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Render ``num_frames`` pristine frames of content ``kind`` at ``size = (height, width)``.

    Deterministic in ``seed``. Returns ``uint8`` RGB frames ``(T, H, W, 3)``.
    """
    if kind not in CONTENT_KINDS:
        raise KeyError(f"unknown content kind {kind!r}; choose from {', '.join(sorted(CONTENT_KINDS))}")
    if num_frames < 2 or min(size) < 16:
        raise ValueError(f"need at least 2 frames of at least 16x16 pixels, got {num_frames} frames of {size}")
    rng = np.random.default_rng(seed)
    frames = CONTENT_KINDS[kind](rng, num_frames, tuple(size))
    return to_uint8(_natural_statistics(frames, rng))


# Fine detail and contrast every source shares, whatever its kind (see _natural_statistics).
DETAIL_CONTRAST = 0.12
TARGET_LUMA_STD = 0.2
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _natural_statistics(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a rendered source natural-image-like fine detail and a common contrast.

    A no-reference model can only tell a blurred clip from a smooth pristine one if pristine
    clips are not smooth: each source is modulated by a drifting 1/f^2 texture (film/surface
    detail, ``DETAIL_CONTRAST`` relative), and its luma contrast is brought to
    ``TARGET_LUMA_STD`` around its own mean, so that high-frequency energy and contrast say
    something about the distortion rather than the content kind.
    """
    t, h, w, _ = frames.shape
    canvas = (2 * h, 2 * w)
    spectrum = _fractal_spectrum(rng, canvas, 2.0)
    velocity = rng.uniform(0.3, 1.2, size=2) * rng.choice([-1.0, 1.0], size=2)
    fy = np.fft.fftfreq(canvas[0])[:, None]
    fx = np.fft.fftfreq(canvas[1])[None, :]
    detail = np.stack(
        [np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (fy * velocity[0] * i + fx * velocity[1] * i))).real[:h, :w]
         for i in range(t)]
    ).astype(np.float32)
    detail /= detail.std() + 1e-8
    out = frames * (1.0 + DETAIL_CONTRAST * detail[..., None])
    luma = out @ _LUMA
    mean, std = float(luma.mean()), float(luma.std())
    # dark or bright kinds keep their character, within limits that leave room for the contrast
    out = float(np.clip(mean, 0.3, 0.7)) + (out - mean) * (TARGET_LUMA_STD / max(std, 1e-6))
    return np.clip(out, 0.0, 1.0)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] to rounded ``uint8``."""
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` saturated-enough RGB colours in [0, 1] (HSV with random hue)."""
    hue = rng.random(n)
    sat = rng.uniform(0.35, 0.9, n)
    val = rng.uniform(0.35, 0.95, n)
    k = (np.array([5.0, 3.0, 1.0])[None, :] + hue[:, None] * 6.0) % 6.0
    return (val[:, None] - val[:, None] * sat[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)).astype(
        np.float32
    )


def _fractal_spectrum(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Random-phase spectrum with power falling as ``1 / f**beta`` (natural-image-like)."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    amplitude = radius ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    noise = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return amplitude * noise


def _normalise(x: np.ndarray, low: float = 0.02, high: float = 0.98) -> np.ndarray:
    lo, hi = np.percentile(x, [100 * low, 100 * high])
    return np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


@register_content("texture")
def texture(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """A drifting coloured fractal texture (1/f^beta spectrum), moved by exact sub-pixel FFT shifts."""
    h, w = size
    canvas = (2 * h, 2 * w)  # a periodic canvas twice the frame, so the wrap-around never shows
    beta = rng.uniform(1.6, 2.6)
    layers = [_fractal_spectrum(rng, canvas, beta) for _ in range(2)]
    velocity = rng.uniform(0.8, 3.0, size=2) * rng.choice([-1.0, 1.0], size=2)
    drift = rng.uniform(0.5, 1.5, size=2) * rng.choice([-1.0, 1.0], size=2)
    fy = np.fft.fftfreq(canvas[0])[:, None]
    fx = np.fft.fftfreq(canvas[1])[None, :]
    colours = _random_colours(rng, 3)
    out = np.empty((num_frames, h, w, 3), np.float32)
    planes = []
    for t in range(num_frames):
        # two layers at different speeds: the texture deforms rather than sliding rigidly
        frame_layers = []
        for spectrum, v in zip(layers, (velocity, velocity + drift), strict=True):
            phase = np.exp(-2j * np.pi * (fy * v[0] * t + fx * v[1] * t))
            frame_layers.append(np.fft.ifft2(spectrum * phase).real[:h, :w])
        planes.append(frame_layers)
    stack = np.asarray(planes, np.float32)  # (T, 2, h, w)
    a = _normalise(stack[:, 0])
    b = _normalise(stack[:, 1])
    mix = (a[..., None] * colours[0] + (1 - a[..., None]) * colours[1]) * (0.55 + 0.45 * b[..., None])
    out[:] = mix + 0.25 * (b[..., None] - 0.5) * colours[2]
    return np.clip(out, 0.0, 1.0)


@register_content("gradient")
def gradient(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Smooth colour gradients: a rotating linear ramp plus a drifting radial glow."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / (h - 1) - 0.5, xx / (w - 1) - 0.5
    c0, c1, c2 = _random_colours(rng, 3)
    angle0 = rng.uniform(0, 2 * np.pi)
    spin = rng.uniform(0.03, 0.09) * rng.choice([-1.0, 1.0])
    centre = rng.uniform(-0.3, 0.3, 2)
    velocity = rng.uniform(0.01, 0.03, 2) * rng.choice([-1.0, 1.0], size=2)
    radius = rng.uniform(0.25, 0.45)
    out = np.empty((num_frames, h, w, 3), np.float32)
    for t in range(num_frames):
        angle = angle0 + spin * t
        ramp = np.clip(0.5 + (xx * np.cos(angle) + yy * np.sin(angle)) * 1.2, 0.0, 1.0)
        cy, cx = centre + velocity * t
        glow = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        base = ramp[..., None] * c0 + (1 - ramp[..., None]) * c1
        out[t] = base * (1 - 0.6 * glow[..., None]) + 0.6 * glow[..., None] * c2
    return out


def _box_sdf(px: np.ndarray, py: np.ndarray, half: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    lx, ly = c * px + s * py, -s * px + c * py
    dx, dy = np.abs(lx) - half[1], np.abs(ly) - half[0]
    outside = np.sqrt(np.maximum(dx, 0) ** 2 + np.maximum(dy, 0) ** 2)
    return outside + np.minimum(np.maximum(dx, dy), 0.0)


def _polygon_sdf(px: np.ndarray, py: np.ndarray, radius: float, sides: int, angle: float) -> np.ndarray:
    """Distance-like field of a regular polygon: max over its edges' half-planes (exact on edges)."""
    apothem = radius * np.cos(np.pi / sides)
    field = np.full(px.shape, -np.inf, np.float32)
    for k in range(sides):
        theta = angle + 2 * np.pi * (k + 0.5) / sides
        field = np.maximum(field, px * np.cos(theta) + py * np.sin(theta) - apothem)
    return field


@register_content("shapes")
def shapes(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Antialiased circles, boxes and polygons moving and spinning over a soft textured background."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg_colours = _random_colours(rng, 2)
    bg_tex = _normalise(np.fft.ifft2(_fractal_spectrum(rng, (h, w), 3.0)).real).astype(np.float32)
    background = bg_tex[..., None] * bg_colours[0] + (1 - bg_tex[..., None]) * bg_colours[1]
    n = int(rng.integers(4, 9))
    kinds = rng.integers(0, 3, n)
    colours = _random_colours(rng, n)
    scale = min(h, w)
    radii = rng.uniform(0.07, 0.2, n) * scale
    pos = rng.uniform(0.1, 0.9, (n, 2)) * np.array([h, w])
    vel = rng.uniform(1.0, 4.0, (n, 2)) * rng.choice([-1.0, 1.0], (n, 2))
    angles = rng.uniform(0, np.pi, n)
    spins = rng.uniform(-0.15, 0.15, n)
    sides = rng.integers(3, 7, n)
    aspect = rng.uniform(0.4, 1.0, n)
    out = np.empty((num_frames, h, w, 3), np.float32)
    for t in range(num_frames):
        frame = background.copy()
        for i in range(n):
            # bounce off the borders: reflect the unbounded trajectory into the frame
            p = pos[i] + vel[i] * t
            span = np.array([h, w], np.float64)
            p = span - np.abs(span - np.mod(p, 2 * span))
            py, px = yy - p[0], xx - p[1]
            angle = angles[i] + spins[i] * t
            if kinds[i] == 0:
                sdf = np.sqrt(px**2 + py**2) - radii[i]
            elif kinds[i] == 1:
                sdf = _box_sdf(px, py, np.array([radii[i] * aspect[i], radii[i]]), angle)
            else:
                sdf = _polygon_sdf(px, py, radii[i], int(sides[i]), angle)
            alpha = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
            frame = frame * (1 - alpha) + alpha * colours[i]
        out[t] = frame
    return out


def _ridge(rng: np.random.Generator, octaves: int = 5) -> Callable[[np.ndarray], np.ndarray]:
    """A continuous 1-D fractal profile (sum of sinusoids), so a pan can sample it at any offset."""
    freqs = 0.004 * 2.0 ** np.arange(octaves) * rng.uniform(0.8, 1.25, octaves)
    amps = 0.5 ** np.arange(octaves)
    phases = rng.uniform(0, 2 * np.pi, octaves)

    def profile(x: np.ndarray) -> np.ndarray:
        return sum(a * np.sin(2 * np.pi * f * x + p) for a, f, p in zip(amps, freqs, phases, strict=True))

    return profile


@register_content("pan")
def pan(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """A camera pan over a generated landscape: sky, clouds, three mountain ranges with parallax, trees.

    The scene is procedural, so every frame is rendered at its exact sub-pixel camera offset.
    """
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    speed = rng.uniform(1.5, 5.0) * rng.choice([-1.0, 1.0])
    sky_top, sky_bottom = np.array([0.25, 0.45, 0.85]), np.array([0.75, 0.85, 0.95])
    sky_top = np.clip(sky_top + rng.uniform(-0.15, 0.15, 3), 0, 1)
    sky = (yy / h)[..., None] * sky_bottom + (1 - yy / h)[..., None] * sky_top
    ranges = []
    for depth in range(3):
        base = h * (0.35 + 0.17 * depth + rng.uniform(-0.05, 0.05))
        tint = np.array([0.35, 0.45, 0.55]) * (1 - 0.25 * depth) + rng.uniform(-0.1, 0.1, 3)
        ranges.append((_ridge(rng), base, 0.12 * h * (1.3 - 0.3 * depth), np.clip(tint, 0, 1), 0.35 + 0.4 * depth))
    cloud_x = rng.uniform(0, 4 * w, 6)
    cloud_y = rng.uniform(0.05, 0.3, 6) * h
    cloud_r = rng.uniform(0.06, 0.14, 6) * w
    tree_x = np.sort(rng.uniform(-w, w + abs(speed) * num_frames + w, 14))
    tree_h = rng.uniform(0.12, 0.25, 14) * h
    ground_tex = np.fft.ifft2(_fractal_spectrum(rng, (h, 4 * w), 2.0)).real
    ground_tex = _normalise(ground_tex).astype(np.float32)
    out = np.empty((num_frames, h, w, 3), np.float32)
    for t in range(num_frames):
        offset = speed * t
        frame = sky.copy()
        # clouds move at a quarter of the camera speed: they are far away
        for cx, cy, r in zip(cloud_x, cloud_y, cloud_r, strict=True):
            centre = np.mod(cx - 0.25 * offset + 2 * w, 4 * w) - 2 * w  # on screen at x in [0, w)
            if centre + 2 * r < 0 or centre - 2 * r > w:
                continue
            dx = np.mod(xx + 0.25 * offset - cx + 2 * w, 4 * w) - 2 * w
            d = np.sqrt(dx**2 / 4 + (yy - cy) ** 2)  # flat ellipses, wrapping every 4 frame widths
            alpha = np.clip((r - d) / 3.0, 0.0, 0.8)[..., None]
            frame = frame * (1 - alpha) + alpha * 0.97
        for profile, base, amplitude, tint, parallax in ranges:
            top = base - amplitude * profile(xx[0] + parallax * offset)
            alpha = np.clip(yy - top[None, :] + 0.5, 0.0, 1.0)[..., None]
            shade = tint * (0.85 + 0.15 * (yy / h))[..., None]
            frame = frame * (1 - alpha) + alpha * shade
        ground_top = 0.82 * h
        shift = int(np.floor(offset)) % (4 * w)
        frac = offset - np.floor(offset)
        tex = (1 - frac) * np.roll(ground_tex, -shift, axis=1)[:, :w] + frac * np.roll(ground_tex, -shift - 1, axis=1)[:, :w]
        alpha = np.clip(yy - ground_top + 0.5, 0.0, 1.0)[..., None]
        ground = np.array([0.25, 0.45, 0.15]) * (0.6 + 0.6 * tex[..., None])
        frame = frame * (1 - alpha) + alpha * ground
        for x0, th in zip(tree_x, tree_h, strict=True):
            if x0 - offset + th < 0 or x0 - offset - th > w:
                continue  # off screen
            tx = xx - (x0 - offset)
            trunk = _box_sdf(tx, yy - (ground_top - 0.2 * th), np.array([0.2 * th, 0.04 * th]), 0.0)
            crown = np.sqrt(tx**2 + (yy - (ground_top - 0.65 * th)) ** 2) - 0.35 * th
            a_trunk = np.clip(0.5 - trunk, 0, 1)[..., None]
            a_crown = np.clip(0.5 - crown, 0, 1)[..., None]
            frame = frame * (1 - a_trunk) + a_trunk * np.array([0.35, 0.22, 0.1])
            frame = frame * (1 - a_crown) + a_crown * np.array([0.1, 0.35, 0.12])
        out[t] = frame
    return np.clip(out, 0.0, 1.0)


@register_content("checkerboard")
def checkerboard(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """A rotating, zooming checkerboard: sharp high-contrast edges at every orientation (2x supersampled)."""
    h, w = size
    ss = 2
    yy, xx = np.mgrid[0:h * ss, 0:w * ss].astype(np.float32) / ss
    yy, xx = yy - h / 2, xx - w / 2
    c0, c1 = _random_colours(rng, 2)
    if abs(float(np.dot(c0 - c1, [0.299, 0.587, 0.114]))) < 0.2:
        c1 = 1.0 - c0  # keep the squares apart in luma
    cell0 = rng.uniform(6.0, 14.0)
    zoom = rng.uniform(0.015, 0.04) * rng.choice([-1.0, 1.0])
    angle0 = rng.uniform(0, np.pi / 2)
    spin = rng.uniform(0.02, 0.06) * rng.choice([-1.0, 1.0])
    drift = rng.uniform(0.5, 2.0, 2)
    out = np.empty((num_frames, h, w, 3), np.float32)
    for t in range(num_frames):
        cell = cell0 * (1 + zoom * t)
        a = angle0 + spin * t
        u = (np.cos(a) * xx + np.sin(a) * yy) / cell + drift[1] * t / cell
        v = (-np.sin(a) * xx + np.cos(a) * yy) / cell + drift[0] * t / cell
        board = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        board = board.reshape(h, ss, w, ss).mean(axis=(1, 3))
        out[t] = board[..., None] * c0 + (1 - board[..., None]) * c1
    return out


@register_content("particles")
def particles(rng: np.random.Generator, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Snow-like particles in three depth layers (near ones bigger and faster) over a dark gradient."""
    h, w = size
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32) / h
    top, bottom = _random_colours(rng, 2) * 0.35
    background = yy[..., None] * bottom + (1 - yy[..., None]) * top
    tint = 0.75 + 0.25 * _random_colours(rng, 1)[0]
    wind = rng.uniform(-1.5, 1.5)
    layers = []
    for depth, (count, sigma, speed) in enumerate(((160, 0.6, 1.0), (70, 1.1, 2.2), (25, 1.9, 4.0))):
        n = int(count * rng.uniform(0.7, 1.3))
        start = rng.uniform(0, 1, (n, 2)) * np.array([h, w])
        vel = np.stack([speed * rng.uniform(0.7, 1.3, n), wind * (1 + depth) * rng.uniform(0.5, 1.5, n)], 1)
        brightness = rng.uniform(0.5, 1.0, n) * (0.6 + 0.2 * depth)
        layers.append((start, vel, brightness, sigma))
    out = np.empty((num_frames, h, w, 3), np.float32)
    for t in range(num_frames):
        light = np.zeros((h, w), np.float32)
        for start, vel, brightness, sigma in layers:
            p = np.mod(start + vel * t, [h, w])
            splat = np.zeros((h, w), np.float32)
            # bilinear splatting keeps sub-pixel positions (smooth motion) before the blur
            iy, ix = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
            fy, fx = p[:, 0] - iy, p[:, 1] - ix
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    np.add.at(splat, ((iy + dy) % h, (ix + dx) % w), brightness * wy * wx)
            light += gaussian_filter(splat, sigma, mode="wrap") * (2 * np.pi * sigma**2) ** 0.5
        out[t] = background + np.clip(light, 0, 1)[..., None] * tint
    return np.clip(out, 0.0, 1.0)
