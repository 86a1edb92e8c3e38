# KoNViD-1k. Its facts (label files, environment variable, MOS range): the dataset spec,
# qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`). Data root: data_root.KoNViD=/path.
konvid = dict(type='KoNViDDataset', data_root=None)
