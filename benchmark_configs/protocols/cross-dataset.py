# Cross-dataset protocol (paper, table 1 right): train on LSVQ_train, test on KoNViD-1k and LIVE-VQC.
# Model selection: the best validation SROCC on 5 % of LSVQ_train held out (seed 42), never a test set.
#   qclip-bench run protocol=cross-dataset data_root.LSVQ=... data_root.KoNViD=... data_root.LIVE_VQC=...
_base_ = [
    '../_base_/models/qclip_paper.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_cosine_8e.py',
    '../_base_/datasets/video_pipeline.py',
    '../_base_/datasets/lsvq.py',
    '../_base_/datasets/konvid.py',
    '../_base_/datasets/live_vqc.py',
]
# model: _base_/models/qclip_paper.py (override with model.preset=release, model.layers=12, ...)
protocol = dict(
    name='cross-dataset',
    method='Q-CLIP',
    # each training set is trained on separately; its validation part is carved from it.
    # Sets are named by their dataset spec (LSVQ_train, KoNViD-1k, LIVE-VQC), as the published rows.
    train_sets=[{{_base_.lsvq_train}}],
    # ratio=None: every training video trains (minus the validation carve); val_ratio of them validate
    split=dict(ratio=None, val_ratio=0.05, seeds=[42]),
    heldout_test=False,
    test_sets=[{{_base_.konvid}}, {{_base_.live_vqc}}],
    evaluate_untrained=True,
    init_checkpoint=None,
    # published rows beside the results: every method of leaderboard/published/*.csv on these test
    # sets under this protocol's name (the paper's table 1, FAST-VQA's own numbers)
)
