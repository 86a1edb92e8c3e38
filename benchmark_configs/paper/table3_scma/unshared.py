# Paper, table 3 (structure of SCMA): SCMA both, unshared (ablation 'scma_unshared').
# Trained on LSVQ_train, tested on LSVQ_test; published rows: leaderboard/published/ablations.
_base_ = ['../../protocols/intra-dataset.py']
model = dict(qclip=dict(ablation='scma_unshared'))  # a row of qclip_plugin/models/presets.py
protocol = dict(
    method='Q-CLIP (SCMA both, unshared)',
    test_sets=dict(_delete_=True, LSVQ_test={{_base_.lsvq_test}}),
    published_dir='ablations',
    published_protocol=None,
)
