# Paper, table 3 (structure of SCMA): SCMA shared (ablation 'scma_shared').
# Trained on LSVQ_train, tested on LSVQ_test; published rows: leaderboard/published/ablations.
_base_ = ['../../protocols/intra-dataset.py']
model = dict(qclip=dict(ablation='scma_shared'))  # a row of qclip_plugin/models/presets.py
protocol = dict(
    method='Q-CLIP (SCMA shared)',
    test_sets=[{{_base_.lsvq_test}}],
    # the paper's row of this variant (table 3, leaderboard/published/ablations)
    published_dir='ablations',
    published_methods='own',
)
