# The official release's layout (preset 'release'): bottleneck 128, serial adapters after blocks 18-23,
# four gates at 0.1, P-SCMA without LayerNorm, prompts ordered bad -> excellent. 1,907,977 trainable
# parameters. Official checkpoints: `qclip-bench convert-official SRC DST`, then
# model.qclip.checkpoint=DST.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(preset='release'))
