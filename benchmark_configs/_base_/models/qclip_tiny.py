# The 'tiny' row of the model table (qclip_plugin/models/presets.py): the random-initialised QCLIP-Tiny
# backbone with the paper's adapters in its last layers. Tests and the synthetic demo only; nothing is downloaded.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(preset='tiny'))
