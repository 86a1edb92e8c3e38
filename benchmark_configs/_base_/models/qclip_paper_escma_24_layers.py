# Ablation of the paper's figure 5 (number of E-SCMA layers): the paper model with layers=24.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(layers=24))
