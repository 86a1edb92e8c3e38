# Frames in, as the paper: 8 frames per video, squash-resized to the model's input size. The frame size,
# mean/std and resize mode are not written here: the protocol fills them in from the model's
# preprocessing record (qclip_plugin.benchmark.protocols.apply_model_preprocessing): PE-Core-L-14-336
# 336x336 with 0.5/0.5, QCLIP-Tiny 112x112, ViT-B-32 224x224 with OpenAI's mean/std; resize='pil' (the
# release preset's) reads frames as the official release does. Workers send them as uint8
# (normalize=False: a quarter of float32's bytes) and QCLIPVQAModel normalises them on its device with
# the same record, bit-identical to normalising in the pipeline.
# A protocol gives its training part train_pipeline, its validation part and test sets
# test_pipeline (test mode: random strategies draw from per-video seeds of randomness.seed).
num_frames = 8
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames=num_frames, sampler='UNISampl', normalize=False),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames=num_frames, sampler='UNISampl', test_mode=True, normalize=False),
    dict(type='PackVQAInputs'),
]
# datasets are filled in by the protocol (qclip_plugin.benchmark.protocols) from its splits
train_dataloader = dict(
    batch_size=12, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=None)
val_dataloader = dict(
    batch_size=12, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=None)
test_dataloader = val_dataloader
# PLCC/RMSE after the linear mapping, the convention of the published tables
val_evaluator = dict(type='VQAMetric', mapping='linear')
test_evaluator = val_evaluator
