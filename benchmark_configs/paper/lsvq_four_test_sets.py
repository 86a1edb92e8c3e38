# Base of the paper's experiments (tables 1, 3, 4, figure 5): train on LSVQ_train (5 % held out for
# model selection), test on LSVQ_test, LSVQ_1080p (intra-dataset), KoNViD-1k and LIVE-VQC (cross-dataset).
# Uniform sampling unless the experiment says otherwise (the paper's ablation default): as such this
# config is table 1's UNISampl row.
_base_ = ['../protocols/cross-dataset.py']
protocol = dict(
    name='cross-dataset',
    method='Q-CLIP (UNISampl)',
    test_sets=[{{_base_.lsvq_test}}, {{_base_.lsvq_1080p}}, {{_base_.konvid}}, {{_base_.live_vqc}}],
    # published rows: the paper's row of the variant run ('own': the published method named as
    # protocol.method), on the intra- and cross-dataset test sets alike (not table 2's fine-tune rows)
    published_protocol=['intra-dataset', 'cross-dataset'],
    published_methods='own',
)
