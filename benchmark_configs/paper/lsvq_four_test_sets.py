# Base of the paper's experiments (tables 1, 3, 4, figure 5): train on LSVQ_train (5 % held out for
# model selection), test on LSVQ_test, LSVQ_1080p (intra-dataset), KoNViD-1k and LIVE-VQC (cross-dataset).
# Uniform sampling unless the experiment says otherwise (the paper's ablation default).
_base_ = ['../protocols/cross-dataset.py']
protocol = dict(
    name='cross-dataset',
    test_sets=dict(
        _delete_=True,
        LSVQ_test={{_base_.lsvq_test}},
        LSVQ_1080p={{_base_.lsvq_1080p}},
        **{'KoNViD-1k': {{_base_.konvid}}, 'LIVE-VQC': {{_base_.live_vqc}}}),
    # published rows: table 1 and the FAST-VQA rows of these four test sets, whatever their protocol
    published_protocol=None,
)
