# LIVE-Qualcomm (raw YUV420). Its facts (label files, environment variable, MOS range, YUV geometry):
# the dataset spec, qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`).
# Data root: data_root.LIVE_Qualcomm=/path. yuv_geometry=None: the spec's (1080, 1920); small test
# videos set their own, e.g. protocol.train_sets.LIVE-Qualcomm.yuv_geometry=(48,64).
live_qualcomm = dict(type='LIVEQualcommDataset', data_root=None, yuv_geometry=None)
