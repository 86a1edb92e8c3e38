# Ablation of the paper's table 3 (structure of SCMA), row 1: SCMA in the visual tower only, with
# "sharing" and "layer sharing" unchecked (one FFN per layer): the paper model with sharing='visual_only'.
# (The variant with one FFN shared by the layers, not in the paper: sharing='visual_only_shared_layers'.)
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(sharing='visual_only'))
