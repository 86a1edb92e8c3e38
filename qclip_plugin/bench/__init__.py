"""Benchmark layer: protocols on mmengine's Runner, leaderboards, scoring, and the ``qclip-bench`` CLI."""
