# YouTube-UGC. Its facts (label files, environment variable, MOS range): the dataset spec,
# qclip_plugin/data/dataset_specs.py (`qclip-bench list datasets`). Data root: data_root.YouTubeUGC=/path.
youtube_ugc = dict(type='YouTubeUGCDataset', data_root=None)
