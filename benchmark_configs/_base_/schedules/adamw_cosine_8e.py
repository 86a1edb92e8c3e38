# Paper: AdamW, lr 1e-3, cosine annealing, 8 epochs, batch 12. Release: weight decay 1e-4 and
# one warm-up epoch, then a per-iteration cosine (both schedules converted to iterations).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    # only parameters with requires_grad reach the optimizer (the backbone is frozen)
    constructor='TrainableOptimWrapperConstructor')
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, eta_min=0.0, by_epoch=True, begin=1, end=8,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
