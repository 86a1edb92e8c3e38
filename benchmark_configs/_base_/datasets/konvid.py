# KoNViD-1k: 1,200 videos, MOS 1-5. data_root.KoNViD=/path or $QCLIP_DATA_KONVID.
konvid = dict(type='KoNViDDataset', data_root=None)
