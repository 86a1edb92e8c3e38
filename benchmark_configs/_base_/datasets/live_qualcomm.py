# LIVE-Qualcomm: 208 raw YUV420 1920x1080 videos, MOS 16.6-73.6.
# data_root.LIVE_Qualcomm=/path or $QCLIP_DATA_LIVE_QUALCOMM.
live_qualcomm = dict(type='LIVEQualcommDataset', data_root=None)
