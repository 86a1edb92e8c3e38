# Fine-tune protocol (paper, table 2): from the LSVQ-trained model, fine-tune on each of the five
# small datasets, 10 random 80/20 splits (seeds 0-9, recorded); report mean ± std and per-split rows.
# Per split, 10 % of the training part is held out to select the epoch; the 20 % test part is
# used once, for the selected checkpoint. Uniform sampling, as the paper fine-tunes.
# model.preset=release: the release's per-dataset settings (weight decay 5e-2 on four sets, lr 2e-3 on
# CVD2014, 10 epochs with 2 warm-up on LIVE-Qualcomm); split.style=release split.seeds=[42] gives the
# release's single split (its test part; the release selects on that part, this protocol never does).
#   qclip-bench run protocol=finetune init_checkpoint=work_dirs/cross-dataset/LSVQ_train/seed42/selected.safetensors
#   (train that first with protocol=cross-dataset) and data_root.<dataset>=... ; datasets=KoNViD-1k,CVD2014 picks some.
_base_ = [
    '../_base_/models/qclip_paper.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_cosine_8e.py',
    '../_base_/datasets/video_pipeline.py',
    '../_base_/datasets/konvid.py',
    '../_base_/datasets/live_vqc.py',
    '../_base_/datasets/youtube_ugc.py',
    '../_base_/datasets/cvd2014.py',
    '../_base_/datasets/live_qualcomm.py',
    '../_base_/schedules/finetune_release.py',
]
protocol = dict(
    name='finetune',
    method='Q-CLIP',
    # named LIVE-VQC, KoNViD-1k, YouTube-UGC, CVD2014, LIVE-Qualcomm (their dataset specs)
    train_sets=[
        {{_base_.live_vqc}},
        {{_base_.konvid}},
        {{_base_.youtube_ugc}},
        {{_base_.cvd2014}},
        {{_base_.live_qualcomm}},
    ],
    split=dict(ratio=0.8, val_ratio=0.1, seeds=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    heldout_test=True,  # the 20 % part of each split is its test set, named as its dataset
    test_sets=[],
    evaluate_untrained=False,
    # the LSVQ-trained adapters (selected.safetensors of a cross-dataset run, or a converted
    # official checkpoint); required
    init_checkpoint=None,
    init_from_protocol=None,
    # per model preset and training set: config overrides for those runs (the command line's win).
    # model.preset=release fine-tunes with the release's own settings (_base_/schedules/finetune_release.py).
    train_overrides=dict(release={{_base_.release_finetune}}),
    # published rows: table 2 of the paper on each fine-tuned set
)
