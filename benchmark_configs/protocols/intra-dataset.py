# Intra-dataset protocol (paper, table 1 left): train on LSVQ_train, test on LSVQ_test and LSVQ_1080p.
_base_ = ['./cross-dataset.py']
protocol = dict(
    name='intra-dataset',
    test_sets=[{{_base_.lsvq_test}}, {{_base_.lsvq_1080p}}],
)
