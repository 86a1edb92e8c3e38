"""Bridges to other libraries and engines, each imported only by its own module (this package imports nothing):

- ``qclip_plugin.integrations.pyiqa``: Q-CLIP as a pyiqa metric; its names reach pyiqa's tables through the import
  hook of ``qclip_plugin.integrations.pyiqa_hook`` (standard library only);
- ``qclip_plugin.integrations.ray_data``: Ray Data, an optional dependency (``pip install "qclip-plugin[ray]"``).
"""
