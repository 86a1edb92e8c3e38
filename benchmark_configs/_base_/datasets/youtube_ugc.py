# YouTube-UGC: 1,147 videos (of 1,380), MOS 1-5. data_root.YouTubeUGC=/path or $QCLIP_DATA_YOUTUBE_UGC.
youtube_ugc = dict(type='YouTubeUGCDataset', data_root=None)
