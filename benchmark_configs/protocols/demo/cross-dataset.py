# The cross-dataset protocol on the synthetic demo set with the random-initialised `tiny` model:
# train on part A (80 %, 15 % of it held out for validation), test on A's held-out 20 % and on
# part B (new content). The untrained model is scored too. Numbers say nothing about real VQA.
#   qclip-bench run protocol=cross-dataset preset=demo
_base_ = [
    '../../_base_/models/qclip_tiny.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/adamw_cosine_8e.py',
    '../../_base_/datasets/video_pipeline.py',
    '../../_base_/datasets/demo.py',
]
image_size = (112, 112)
train_pipeline = [
    dict(type='LoadVideoFrames', num_frames=8, sampler='UNISampl', size=image_size),
    dict(type='PackVQAInputs'),
]
test_pipeline = [
    dict(type='LoadVideoFrames', num_frames=8, sampler='UNISampl', size=image_size, test_mode=True),
    dict(type='PackVQAInputs'),
]
# the tiny random model learns faster with a larger step (DESIGN.md section 8)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
train_cfg = dict(max_epochs=8)
train_dataloader = dict(num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
default_hooks = dict(logger=dict(interval=4))
protocol = dict(
    name='cross-dataset',
    preset='demo',
    method='Q-CLIP',
    train_sets={'demo-A': {{_base_.demo_part_a}}},
    split=dict(ratio=0.8, val_ratio=0.15, seeds=[0]),
    heldout_test=True,
    test_sets={'demo-B': {{_base_.demo_part_b}}},
    evaluate_untrained=True,
    init_checkpoint=None,
    demo_seed={{_base_.demo_seed}},
)
