# Paper, table 4 (prompts): prompts five levels, learnable (ablation 'prompts_five_levels_learnable').
# Trained on LSVQ_train, tested on LSVQ_test, KoNViD-1k and LIVE-VQC; published rows: leaderboard/published/ablations.
_base_ = ['../lsvq_four_test_sets.py']
model = dict(qclip=dict(ablation='prompts_five_levels_learnable'))  # a row of qclip_plugin/models/presets.py
protocol = dict(
    method='Q-CLIP (prompts five levels, learnable)',
    test_sets=[{{_base_.lsvq_test}}, {{_base_.konvid}}, {{_base_.live_vqc}}],
    # the paper's row of this variant (table 4, leaderboard/published/ablations)
    published_dir='ablations',
)
