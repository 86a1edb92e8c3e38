# The official release's model (preset 'release'), the one that produced the published numbers:
# bottleneck 128, serial adapters after blocks 18-23, four gates at 0.1, P-SCMA without LayerNorm,
# prompts ordered bad -> excellent; 1,907,977 trainable parameters (~1.9 M, not the paper's 0.14 M).
# Frames are read as the release reads them: decoded at full size, resized with PIL (resize='pil').
# Official checkpoints: `qclip-bench convert-official SRC DST`, then model.qclip.checkpoint=DST.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(preset='release'))
