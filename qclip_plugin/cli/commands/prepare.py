"""``qclip-bench prepare``: precompute a dataset's frame-difference profiles with N processes,
resumably, and list its unreadable videos once."""

from __future__ import annotations

import argparse

from qclip_plugin.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="precompute frame-difference profiles (eq. 13) of a dataset; list bad videos once",
        description=(
            "Compute the frame-difference profile of every video of a dataset into the cache the MSE samplers "
            "read, with --workers processes. Re-running skips cached profiles and, unless they changed, the "
            "videos of the bad list. DATASET is a dataset name (KoNViD, konvid-1k, LSVQ, KoNViDDataset, ...; "
            "any case; see qclip-bench list datasets) or video files, folders and list files."
        ),
    )
    parser.add_argument("dataset", nargs="+", metavar="DATASET", help="a dataset key/class, or videos, folders, lists")
    parser.add_argument("--data-root", help="the dataset's data root (default: its environment variable)")
    parser.add_argument("--ann-file", help="the dataset's label file (default: found in the data root)")
    parser.add_argument("--split", help="LSVQ split: train, test, 1080p")
    parser.add_argument("--workers", type=int, default=1, help="decoding processes (default 1)")
    parser.add_argument("--profile-size", type=int, nargs=2, metavar=("H", "W"), help="default 112 112")
    parser.add_argument("--cache-dir", help="profile cache (default $QCLIP_CACHE_DIR/frame_difference)")
    parser.add_argument("--bad-list", help="CSV of unreadable videos (default $QCLIP_CACHE_DIR/bad_videos/<dataset>.csv)")
    parser.add_argument("--retry-bad", action="store_true", help="decode the listed bad videos again")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: --workers processes (default); ray: one Ray task per video "
                        "(pip install \"qclip-plugin[ray]\"; the cache must be shared by the nodes)")
    parser.add_argument("--address", help="Ray cluster for --engine ray: auto, HOST:PORT, ray://HOST:10001 "
                        "(default: a local Ray instance)")
    parser.set_defaults(func=run, flags=FLAGS)


#: The library's words in messages -> this command's flags.
FLAGS = {"data_root=": "--data-root", "ann_file=": "--ann-file", "split=": "--split"}


class PrepareInputError(UserError, ValueError):
    """The dataset or videos to prepare cannot be found (no data root, no label file, a bad --split)."""


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qclip_plugin.benchmark.prepare import dataset_by_name, prepare_profiles
    from qclip_plugin.benchmark.scoring import collect_videos
    from qclip_plugin.data.dataset_specs import get_spec

    videos = None
    try:
        if len(args.dataset) == 1:
            videos = dataset_by_name(args.dataset[0], data_root=args.data_root, ann_file=args.ann_file,
                                     split=args.split)
            if videos is None and not Path(args.dataset[0]).expanduser().exists():
                get_spec(args.dataset[0])  # neither a dataset nor a path: the did-you-mean error
        if videos is None:
            videos = collect_videos(args.dataset)
    except (FileNotFoundError, ValueError, TypeError) as error:  # no data root, no label file, bad --split
        if isinstance(error, UserError):
            raise
        raise PrepareInputError(str(error)) from error
    options = dict(profile_size=args.profile_size, cache_dir=args.cache_dir, bad_list=args.bad_list,
                   retry_bad=args.retry_bad, progress=not args.quiet)
    if args.engine == "ray":
        from qclip_plugin.integrations.ray_data import prepare_profiles_with_ray, ray_session

        with ray_session(args.address):
            report = prepare_profiles_with_ray(videos, **options)
    else:
        report = prepare_profiles(videos, num_workers=args.workers, **options)
    for path, reason in report.bad.items():
        print(f"bad: {path}: {reason}")
    print(report.summary())
    # main.py's rules: 1 when no video could be prepared, 0 when some could (the bad ones listed above)
    return 1 if report.total and report.num_bad >= report.total else 0
