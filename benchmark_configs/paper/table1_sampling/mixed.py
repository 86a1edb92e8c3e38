# Paper, table 1: Q-CLIP with Mixed frame sampling, trained on LSVQ_train, tested on four sets.
# Mixed: a random strategy per training sample; in test mode Mixed uses its fixed test strategy.
#   qclip-bench run protocol=paper/table1_sampling/mixed data_root.LSVQ=... data_root.KoNViD=... data_root.LIVE_VQC=...
_base_ = ['../lsvq_four_test_sets.py']
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames={{_base_.num_frames}}, sampler='Mixed', normalize=False),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames={{_base_.num_frames}}, sampler='Mixed',
         test_mode=True, normalize=False),
    dict(type='PackVQAInputs'),
]
protocol = dict(method='Q-CLIP (Mixed)')
