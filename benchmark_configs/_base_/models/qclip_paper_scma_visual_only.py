# Ablation of the paper's table 3 (structure of SCMA): the paper model with sharing='visual_only'.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(sharing='visual_only'))
