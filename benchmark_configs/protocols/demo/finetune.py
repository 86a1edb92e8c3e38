# The fine-tune protocol on the synthetic demo set: start from the demo cross-dataset run's
# selected adapters (trained on part A; run first when missing), fine-tune on part B with
# 10 random 80/20 splits (seeds 0-9), 2 epochs each (shortened), mean ± std and per-split rows.
#   qclip-bench run protocol=finetune preset=demo
_base_ = ['./cross-dataset.py']
train_cfg = dict(max_epochs=2)
protocol = dict(
    name='finetune',
    train_sets=dict(_delete_=True, **{'demo-B': {{_base_.demo_part_b}}}),
    split=dict(ratio=0.8, val_ratio=0.2, seeds=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    heldout_test=True,
    test_sets=dict(_delete_=True),
    evaluate_untrained=False,
    init_from_protocol='cross-dataset',
)
