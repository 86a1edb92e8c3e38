"""DataLoader workers, persistent workers and prefetch for every dataloader of a config at once.

mmengine passes a dataloader config's ``num_workers``, ``persistent_workers`` and
``prefetch_factor`` to ``torch.utils.data.DataLoader``, so single loaders are set with dotted
overrides (``train_dataloader.num_workers=8``); :func:`set_loader_workers` sets all of them
consistently (torch refuses persistent workers and a prefetch factor without worker processes).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOADERS", "set_loader_workers"]

LOADERS: tuple[str, ...] = ("train_dataloader", "val_dataloader", "test_dataloader")


def set_loader_workers(
    cfg: Any,
    num_workers: int,
    *,
    persistent_workers: bool | None = None,
    prefetch_factor: int | None = None,
    loaders: tuple[str, ...] = LOADERS,
) -> Any:
    """Set ``num_workers`` (and optionally ``persistent_workers``, ``prefetch_factor``) of the
    config's dataloaders, in place; return the config.

    ``persistent_workers`` defaults to True for training (workers live across epochs instead of
    being started again, with their open files and caches) and to False for evaluation loaders
    (each runs once per epoch). With ``num_workers=0`` both options are removed.
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    for name in loaders:
        loader = cfg.get(name)
        if loader is None:
            continue
        loader["num_workers"] = int(num_workers)
        if num_workers == 0:
            loader["persistent_workers"] = False
            loader.pop("prefetch_factor", None)
            continue
        keep = persistent_workers if persistent_workers is not None else name == "train_dataloader"
        loader["persistent_workers"] = bool(keep)
        if prefetch_factor is not None:
            loader["prefetch_factor"] = int(prefetch_factor)
    return cfg
