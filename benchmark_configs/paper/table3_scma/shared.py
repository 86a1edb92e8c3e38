# Paper, table 3 (structure of SCMA): SCMA shared (model override sharing='shared').
# Trained on LSVQ_train, tested on LSVQ_test; published rows: leaderboard/published/ablations.
_base_ = ['../../protocols/intra-dataset.py']
# as _base_/models/qclip_paper_scma_shared.py (one model base per config: the protocol brings the paper's)
model = dict(qclip=dict(sharing='shared'))
protocol = dict(
    method='Q-CLIP (SCMA shared)',
    test_sets=dict(_delete_=True, LSVQ_test={{_base_.lsvq_test}}),
    published_dir='ablations',
    published_protocol=None,
)
