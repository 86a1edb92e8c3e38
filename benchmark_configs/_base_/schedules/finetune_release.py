# The official release's fine-tune settings (its options/finetune/*.yml) where they differ from its
# pre-training (AdamW lr 1e-3, weight decay 1e-4, 8 epochs with 1 warm-up epoch, batch 12), as config
# overrides per training set. The fine-tune protocol applies them when model.preset=release
# (protocol.train_overrides); YouTube-UGC keeps the pre-training settings. The release starts every
# fine-tune from its LSVQ checkpoint and uses one 80/20 split with seed 42 (split.style='release').
# Not reproduced: the release reads LIVE-Qualcomm from 8 pre-extracted PNG frames per video
# (LIVE-Qualcomm_8png, how they were extracted is not published); this project decodes the raw YUV.
release_finetune = {
    'LIVE-VQC': {'optim_wrapper.optimizer.weight_decay': 5e-2},
    'KoNViD-1k': {'optim_wrapper.optimizer.weight_decay': 5e-2},
    'CVD2014': {'optim_wrapper.optimizer.lr': 2e-3, 'optim_wrapper.optimizer.weight_decay': 5e-2},
    'LIVE-Qualcomm': {
        'optim_wrapper.optimizer.weight_decay': 5e-2,
        'train.max_epochs': 10,
        # warm-up over 2 epochs, then the cosine over the other 8
        'param_scheduler.0.end': 2,
        'param_scheduler.1.begin': 2,
        'param_scheduler.1.end': 10,
        'param_scheduler.1.T_max': 8,
    },
}
