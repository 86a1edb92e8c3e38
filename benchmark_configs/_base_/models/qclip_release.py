# The official release's model, the one that produced the published numbers: the 'release' row of the
# model table (qclip_plugin/models/presets.py), frames read as the release reads them (resize='pil').
# Official checkpoints: `qclip-bench convert-official SRC DST`, then model.qclip.checkpoint=DST.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(preset='release'))
