# Frames in, as the paper: 8 frames per video, squash-resized to the backbone's input size
# (PE-Core-L-14-336: 336x336). Workers send them as uint8 (normalize=False: a quarter of float32's
# bytes) and QCLIPVQAModel normalises them on its device with the backbone's own mean/std (PE:
# 0.5/0.5), bit-identical to normalising in the pipeline.
# A protocol gives its training part train_pipeline, its validation part and test sets
# test_pipeline (deterministic sampling in test mode).
num_frames = 8
image_size = (336, 336)
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames=num_frames, sampler='UNISampl', size=image_size, normalize=False),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames=num_frames, sampler='UNISampl', size=image_size, test_mode=True,
         normalize=False),
    dict(type='PackVQAInputs'),
]
# datasets are filled in by the protocol (qclip_plugin.bench.protocols) from its splits
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
