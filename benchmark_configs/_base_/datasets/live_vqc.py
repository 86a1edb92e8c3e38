# LIVE-VQC: 585 videos, MOS 0-100. data_root.LIVE_VQC=/path or $QCLIP_DATA_LIVE_VQC.
live_vqc = dict(type='LIVEVQCDataset', data_root=None)
