# The synthetic demo benchmark (qclip_plugin.data.synthetic): generated on first use into the
# user cache (~30 s), reused afterwards. '{demo.root}' and '{demo.labels.A}' are filled in by
# the protocol runner from generate_demo_benchmark(seed=demo_seed).
demo_seed = 0
demo_part_a = dict(type='VQADataset', ann_file='{demo.labels.A}', data_root='{demo.root}')
demo_part_b = dict(type='VQADataset', ann_file='{demo.labels.B}', data_root='{demo.root}')
