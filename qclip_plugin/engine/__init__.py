"""mmengine glue: the Runner setup (``runner``), hooks, mixed precision, the trainable-only optimizer
constructor, safe checkpoint loading, DataLoader options and distributed launch.

Nothing here knows about protocols or leaderboards (:mod:`qclip_plugin.benchmark`) or the command
line (:mod:`qclip_plugin.cli`); it turns a config into a trained and evaluated model.
"""
