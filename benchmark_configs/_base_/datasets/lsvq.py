# LSVQ, three splits. Its facts (label files per split, environment variable, MOS range): the dataset
# spec, qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`). Data root: data_root.LSVQ=/path.
lsvq_train = dict(type='LSVQDataset', split='train', data_root=None)
lsvq_test = dict(type='LSVQDataset', split='test', data_root=None)
lsvq_1080p = dict(type='LSVQDataset', split='1080p', data_root=None)
