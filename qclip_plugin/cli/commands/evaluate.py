"""``qclip-bench evaluate``: SROCC/PLCC/KROCC/RMSE of any method's per-video predictions."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a per-video predictions file (name,score or DOVER's two-branch file) against labels",
        description=(
            "Evaluate per-video predictions against a label file. PREDICTIONS is a CSV with a name column "
            "and a score column (score, pred, ...), a headerless name,score file, the output of "
            "`qclip-bench score`, or DOVER's released name,mos,aesthetic,technical file (branches fused "
            "by z-scoring each). Names match the labels exactly or by their trailing path."
        ),
    )
    parser.add_argument("--predictions", required=True, metavar="P.csv", help="per-video predictions")
    parser.add_argument("--labels", required=True, metavar="L.txt", help="label file (community list or official)")
    parser.add_argument("--label-format", default="auto", help="label format if the file name does not tell")
    parser.add_argument(
        "--mapping", default="linear", choices=("none", "linear", "logistic4", "logistic5"),
        help="mapping applied before PLCC/RMSE (default linear, as the published tables)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    board = parser.add_argument_group("add the result to a leaderboard as a measured row")
    board.add_argument(
        "--output", "--leaderboard", dest="leaderboard", metavar="DIR",
        help="leaderboard folder to add the row to (created if missing; the same method and test set again "
        "replaces its row); its parent's README.md indexes the leaderboards there",
    )
    board.add_argument("--method", help="method name of the row (e.g. DOVER)")
    board.add_argument("--test-set", help="test set name (e.g. KoNViD-1k)")
    board.add_argument("--train-set", default="", help="training set, if any (e.g. LSVQ_train)")
    board.add_argument("--protocol", default="cross-dataset", help="protocol name (default cross-dataset)")
    board.add_argument("--source", default="", help="where the predictions come from")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.predictions import add_to_leaderboard, evaluate_predictions_file

    result = evaluate_predictions_file(
        args.predictions, args.labels, mapping=args.mapping, label_format=args.label_format
    )
    if args.json:
        summary = result.as_dict() | {"missing": len(result.missing), "unmatched": len(result.unmatched)}
        print(json.dumps(summary))
    else:
        print(result.summary())
    if args.leaderboard:
        if not (args.method and args.test_set):
            from qclip_plugin.errors import UsageError

            raise UsageError("--output (the leaderboard to add the row to) needs --method and --test-set")
        files = add_to_leaderboard(
            result, args.leaderboard, method=args.method, test_set=args.test_set,
            train_set=args.train_set, protocol=args.protocol, source=args.source,
        )
        print(f"added {args.method} on {args.test_set} to {files.csv} and {files.markdown}")
        if files.index:
            print(f"index of the leaderboards beside it: {files.index}")
    return 0
