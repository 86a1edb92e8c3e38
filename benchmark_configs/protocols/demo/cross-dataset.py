# The cross-dataset protocol on the synthetic demo set with the `tiny` model (random weights except
# a fixed log-magnitude DCT patch embedding): train on part A (70 % of its 40 source videos, a fifth
# of those held out for validation), test on A's held-out sources and on part B (new content, two
# distortion types A never shows). Part A is LIVE-style (4 distorted versions of each source), so it
# is split by source: a clip-level split would test on contents it trained on. The untrained model
# is scored too. Numbers say nothing about real VQA.
# Shortened for a CPU: 4 of each clip's 16 frames (the demo's distortions show in single frames),
# batch 8, lr 3e-3 and adapters in all four blocks (bottleneck 32) of the tiny backbone.
#   qclip-bench run protocol=cross-dataset preset=demo
_base_ = [
    '../../_base_/models/qclip_tiny.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/adamw_cosine_8e.py',
    '../../_base_/datasets/video_pipeline.py',
    '../../_base_/datasets/demo.py',
]
# frames at the tiny model's 112x112, from its preprocessing record (filled in by the protocol)
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames=4, sampler='UNISampl', normalize=False),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames=4, sampler='UNISampl', test_mode=True, normalize=False),
    dict(type='PackVQAInputs'),
]
model = dict(qclip=dict(layers=4, bottleneck=32))
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, eta_min=0.0, by_epoch=True, begin=1, end=8,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=8)
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
default_hooks = dict(logger=dict(interval=4))
protocol = dict(
    name='cross-dataset',
    preset='demo',
    method='Q-CLIP',
    train_sets={'demo-A': {{_base_.demo_part_a}}},
    # whole sources per part: the demo dataset's metadata CSV gives each clip's source
    split=dict(ratio=0.7, val_ratio=0.2, seeds=[0], group_by='source'),
    heldout_test=True,
    test_sets={'demo-B': {{_base_.demo_part_b}}},
    evaluate_untrained=True,
    init_checkpoint=None,
    # synthetic sets: no published numbers exist for them
    published_dir='none',
)
