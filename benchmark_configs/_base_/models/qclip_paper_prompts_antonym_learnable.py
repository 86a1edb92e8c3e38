# Ablation of the paper's table 4 (prompts): the paper model with prompt_mode='antonym_learnable'.
_base_ = ['./qclip_paper.py']
model = dict(qclip=dict(prompt_mode='antonym_learnable'))
