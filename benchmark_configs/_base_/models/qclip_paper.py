# Q-CLIP as in the paper (qclip_plugin.models.presets 'paper'): PE-Core-L-14-336 with Meta's weights,
# E-SCMA (bottleneck 8, last six layers, parallel) + P-SCMA, five learnable-context prompts.
# 139,555 trainable parameters. `qclip` holds build_qclip() arguments; any QCLIPConfig field can be
# overridden here or on the command line (model.qclip.layers=12).
qclip = dict(preset='paper')
model = dict(
    type='QCLIPVQAModel',
    qclip=qclip,
    loss=dict(type='PLCCRankLoss', plcc_weight=1.0, rank_weight=0.3))
