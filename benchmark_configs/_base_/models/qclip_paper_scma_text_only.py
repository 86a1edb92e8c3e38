# Ablation of the paper's table 3 (structure of SCMA), row 2: SCMA in the text tower only, with
# "sharing" and "layer sharing" unchecked (one FFN per layer): the paper model with sharing='text_only'.
# (The variant with one FFN shared by the layers, not in the paper: sharing='text_only_shared_layers'.)
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(sharing='text_only'))
