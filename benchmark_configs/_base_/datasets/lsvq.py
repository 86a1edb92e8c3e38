# LSVQ (Ying et al. 2021): train 28,056 / test 7,186 / 1080p 3,573 videos, MOS 0-100.
# Data root: data_root.LSVQ=/path (override) or $QCLIP_DATA_LSVQ; label files
# labels_train.txt / labels_test.txt / labels_1080p.txt (or the official labels_train_test.csv) in it.
lsvq_train = dict(type='LSVQDataset', split='train', data_root=None)
lsvq_test = dict(type='LSVQDataset', split='test', data_root=None)
lsvq_1080p = dict(type='LSVQDataset', split='1080p', data_root=None)
