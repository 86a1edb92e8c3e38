# LIVE-VQC. Its facts (label files, environment variable, MOS range): the dataset spec,
# qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`). Data root: data_root.LIVE_VQC=/path.
live_vqc = dict(type='LIVEVQCDataset', data_root=None)
