# Paper, table 3 (structure of SCMA), row 2: SCMA text only, no sharing and no layer sharing
# (model override sharing='text_only': one FFN per layer).
# Trained on LSVQ_train, tested on LSVQ_test; published rows: leaderboard/published/ablations.
_base_ = ['../../protocols/intra-dataset.py']
# as _base_/models/qclip_paper_scma_text_only.py (one model base per config: the protocol brings the paper's)
model = dict(qclip=dict(sharing='text_only'))
protocol = dict(
    method='Q-CLIP (SCMA text only)',
    test_sets=dict(_delete_=True, LSVQ_test={{_base_.lsvq_test}}),
    published_dir='ablations',
    published_protocol=None,
)
