# Q-CLIP as in the paper: the 'paper' row of the model table (qclip_plugin/models/presets.py, where every
# preset and ablation is written once; `qclip-bench params --model paper` prints its parameter counts).
# The published numbers come from the official release's model, the 'release' preset (qclip_release.py).
# `qclip` holds build_qclip() arguments: `preset`, `ablation` (a row of the paper's tables 3-4 and figure 5,
# e.g. ablation='scma_unshared'), and any QCLIPConfig field as an override, here or on the command line
# (model.ablation=escma_12_layers, model.layers=12, model.backbone=ViT-B-32, resize=pil).
qclip = dict(preset='paper')
model = dict(
    type='QCLIPVQAModel',
    qclip=qclip,
    loss=dict(type='PLCCRankLoss', plcc_weight=1.0, rank_weight=0.3))
