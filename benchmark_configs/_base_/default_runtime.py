# Runtime shared by every benchmark config: registries, hooks, logging, seeds.
default_scope = 'qclip_plugin'
# Imported when the config is loaded, so a plain mmengine Runner built from any config here
# finds the project's model wrapper, datasets, metric, hooks and optimizer constructor, and
# can resume under torch >= 2.6 (qclip_plugin.engine.hooks allows mmengine's checkpoint types).
custom_imports = dict(
    imports=[
        'qclip_plugin.models.vqa_model',
        'qclip_plugin.data',
        'qclip_plugin.data.datasets',
        'qclip_plugin.evaluation',
        'qclip_plugin.engine.hooks',
        'qclip_plugin.engine.optim_constructor',
        'qclip_plugin.engine.precision',
        'qclip_plugin.models.global_batch_loss',
    ],
    allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # every log line shows lr, losses, time per iteration and the ETA of the run
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one checkpoint per epoch (the last two kept, for resume) and the best validation SROCC
    checkpoint=dict(
        type='CheckpointHook', interval=1, by_epoch=True, max_keep_ckpts=2,
        save_best='vqa/SROCC', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# checkpoints hold the trainable tensors only (adapters, prompts, head), not the frozen backbone
custom_hooks = [dict(type='TrainableCheckpointHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
