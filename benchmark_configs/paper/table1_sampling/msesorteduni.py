# Paper, table 1: Q-CLIP with MSESortedUNI frame sampling, trained on LSVQ_train, tested on four sets.
#   qclip-bench run protocol=paper/table1_sampling/msesorteduni data_root.LSVQ=... data_root.KoNViD=... data_root.LIVE_VQC=...
_base_ = ['../lsvq_four_test_sets.py']
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames={{_base_.num_frames}}, sampler='MSESortedUNI', normalize=False),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames={{_base_.num_frames}}, sampler='MSESortedUNI',
         test_mode=True, normalize=False),
    dict(type='PackVQAInputs'),
]
protocol = dict(method='Q-CLIP (MSESortedUNI)')
