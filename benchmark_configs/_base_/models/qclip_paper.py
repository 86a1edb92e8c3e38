# Q-CLIP as in the paper (qclip_plugin.models.presets 'paper'): PE-Core-L-14-336 with Meta's weights,
# E-SCMA (last six layers, parallel) + P-SCMA, five learnable-context prompts. The paper gives no
# bottleneck width: 8 is chosen because it gives the paper's 0.14 M trainable parameters (139,555).
# The published numbers come from the official release's model, the 'release' preset (qclip_release.py).
# `qclip` holds build_qclip() arguments; any QCLIPConfig field can be overridden here or on the command
# line (model.layers=12, model.backbone=ViT-B-32, resize=pil).
qclip = dict(preset='paper')
model = dict(
    type='QCLIPVQAModel',
    qclip=qclip,
    loss=dict(type='PLCCRankLoss', plcc_weight=1.0, rank_weight=0.3))
