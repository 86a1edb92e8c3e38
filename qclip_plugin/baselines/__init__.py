"""Baselines to compare Q-CLIP with, each a metric of :func:`qclip_plugin.create_metric`.

- :mod:`~qclip_plugin.baselines.zero_shot`: ``clip-antonym`` and ``clip-five-level``, zero-shot
  prompt scores on any open_clip backbone (no training).
- :mod:`~qclip_plugin.baselines.fastvqa`: ``fast-vqa`` and ``fastervqa``, through the authors'
  ``fastvqa`` package and weights when installed.
- :mod:`~qclip_plugin.baselines.dover`: ``dover``, through the authors' ``dover`` package and weights.

The third-party adapters import nothing until used; without the package they raise
:class:`~qclip_plugin.baselines.third_party.BaselineUnavailableError` saying how to install it.
"""
