# CVD2014. Its facts (label files, environment variable, MOS range): the dataset spec,
# qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`). Data root: data_root.CVD2014=/path.
cvd2014 = dict(type='CVD2014Dataset', data_root=None)
