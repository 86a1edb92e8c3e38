# Paper, figure 5: 24 E-SCMA layers (the last 24 blocks of both towers; the paper's default is 6).
# Trained on LSVQ_train, tested on the four sets. The figure's values are not tabulated: no published rows.
_base_ = ['../lsvq_four_test_sets.py']
model = dict(qclip=dict(ablation='escma_24_layers'))  # a row of qclip_plugin/models/presets.py
protocol = dict(method='Q-CLIP (24 E-SCMA layers)', published_dir='none')
