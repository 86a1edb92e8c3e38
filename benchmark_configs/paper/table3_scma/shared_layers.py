# Paper, table 3 (structure of SCMA): SCMA shared + layer sharing (model override sharing='shared_layers').
# Trained on LSVQ_train, tested on LSVQ_test; published rows: leaderboard/published/ablations.
_base_ = ['../../protocols/intra-dataset.py']
# as _base_/models/qclip_paper_scma_shared_layers.py (one model base per config: the protocol brings the paper's)
model = dict(qclip=dict(sharing='shared_layers'))
protocol = dict(
    method='Q-CLIP (SCMA shared + layer sharing)',
    test_sets=dict(_delete_=True, LSVQ_test={{_base_.lsvq_test}}),
    published_dir='ablations',
    published_protocol=None,
)
