# CVD2014: 234 videos (AVI), MOS -6.5-93.4. data_root.CVD2014=/path or $QCLIP_DATA_CVD2014.
cvd2014 = dict(type='CVD2014Dataset', data_root=None)
