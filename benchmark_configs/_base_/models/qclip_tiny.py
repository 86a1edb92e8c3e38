# The QCLIP-Tiny backbone (width 64, 4 blocks per tower, 112 px, mean-pooled image tokens; random
# weights except a fixed log-magnitude DCT patch embedding) with the paper's adapters in its last two
# layers: ~4 K trainable parameters. Tests and the synthetic demo only; nothing is downloaded.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(preset='tiny', pretrained=None))
