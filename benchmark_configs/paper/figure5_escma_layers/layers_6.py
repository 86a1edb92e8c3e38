# Paper, figure 5: 6 E-SCMA layers (the last 6 blocks of both towers; the paper's default is 6).
# Trained on LSVQ_train, tested on the four sets. The figure's values are not tabulated, but six layers
# with uniform sampling is the configuration of all the paper's other experiments ("all comparative
# experiments in this paper are based on a 6-layer E-SCMA configuration"; ablations sample uniformly):
# table 1's UNISampl row is this point's published row.
_base_ = ['../lsvq_four_test_sets.py']
model = dict(qclip=dict(ablation='escma_6_layers'))  # a row of qclip_plugin/models/presets.py
protocol = dict(method='Q-CLIP (6 E-SCMA layers)', published_methods=['Q-CLIP (UNISampl)'])
