"""Bridges to other engines, each an optional dependency imported only by its own module
(``qclip_plugin.integrations.ray_data``: Ray Data, ``pip install "qclip-plugin[ray]"``)."""
