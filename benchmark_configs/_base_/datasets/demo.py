# The synthetic demo benchmark (qclip_plugin.data.synthetic): DemoDataset generates it on first use
# into the user cache (~30 s) and reuses it afterwards; `seed=` chooses another generated set.
demo_part_a = dict(type='DemoDataset', part='A')
demo_part_b = dict(type='DemoDataset', part='B')
