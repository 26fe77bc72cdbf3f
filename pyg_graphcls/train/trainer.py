"""One Trainer for every task: single-label graphs or images, multi-label, edge loss.

Per epoch it records the running training loss/metric (train mode, weights
changing under it) *and* the same metric re-measured in eval mode on a fixed
training subset (``train_eval_*``) — the running one lags and is depressed
by dropout/augmentation, which is why early-epoch training scores can sit far
below validation ones. Compare ``train_eval_*`` with ``val_*``.

Checkpoints: ``last.pt`` (full state for resuming, every epoch) and
``checkpoint.pt`` (the best model by the monitored validation metric), both
atomic and loaded with ``weights_only=True``. Resuming restores the model,
optimizer, scheduler, RNG state and history, and the data order (a seeded
generator per epoch), so a resumed CPU run ends with the same numbers as an
uninterrupted one. ``last.pt`` also stores the schedule (scheduler, epochs,
lr, weight decay, batch size, seed); resuming refuses
(:meth:`Trainer.check_resume`) when it, the model config, or the data
recorded in ``checkpoint_extra`` (fingerprint, graph settings) differ: a
cosine schedule is never bent by a new ``epochs``.

Distributed (``distributed=DistContext``, see :mod:`pyg_graphcls.train.distributed`):
the model is wrapped in DDP, each global batch is split across the ranks,
metrics are reduced across ranks, :meth:`Trainer.evaluate` gathers the
predictions of all ranks, and only rank 0 writes files.
"""
from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import GraphclsError
from ..io import atomic_write, write_json
from .checkpoint import load_checkpoint, save_checkpoint
from .resume import resume_differences
from .metrics import accuracy, confusion_matrix

__all__ = ["Trainer", "resolve_device", "split_dataset", "make_loader", "cpu_has_bf16"]

TASKS = ("single", "multilabel")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; a CUDA request without CUDA is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GraphclsError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GraphclsError(f"device {device!r} asked for but CUDA is not available here")
    return dev


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX), so that mixed
    precision speeds training up; elsewhere bfloat16 is emulated and slower than float32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without the probes
        return False


def split_indices(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded random split of ``range(n)`` into sorted ``(train_idx, val_idx)``.

    ``round(n * val_fraction)`` indices go to validation (at least one when
    ``val_fraction > 0`` and ``n > 1``); the split depends on ``(n,
    val_fraction, seed)`` only.

    Args:
        n (int): number of items.
        val_fraction (float): share of validation items, in ``[0, 1)``.
        seed (int): seed of the permutation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise GraphclsError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def split_dataset(dataset, val_fraction: float = 0.1, seed: int = 0):
    """Seeded random ``(train, val)`` split of a dataset (indexable by a tensor or list) by
    :func:`split_indices`; ``val`` is ``None`` when it would be empty."""
    train_idx, val_idx = split_indices(len(dataset), val_fraction, seed)
    return _subset(dataset, train_idx), (_subset(dataset, val_idx) if len(val_idx) else None)


def _subset(dataset, idx: Tensor):
    from torch_geometric.data import Dataset as PygDataset
    from .fast import PackedGraphs
    if isinstance(dataset, (PygDataset, PackedGraphs)):
        return dataset[idx]
    return torch.utils.data.Subset(dataset, idx.tolist())


def _is_graph_dataset(dataset) -> bool:
    from torch_geometric.data import Data
    return len(dataset) > 0 and isinstance(dataset[0], Data)


def make_loader(dataset, batch_size: int, shuffle: bool, generator: Optional[torch.Generator] = None,
                num_workers: int = 0, sampler=None, drop_last: bool = False, batch_sampler=None):
    """PyG ``DataLoader`` for graph datasets, torch ``DataLoader`` otherwise; a
    :class:`~pyg_graphcls.train.fast.PackedGraphs` gives its own (fast) loader."""
    from .fast import PackedGraphs
    if isinstance(dataset, PackedGraphs):
        return dataset.loader(batch_size, shuffle=shuffle and sampler is None, generator=generator,
                              batch_sampler=batch_sampler, drop_last=drop_last)
    if _is_graph_dataset(dataset):
        from torch_geometric.loader import DataLoader
    else:
        from torch.utils.data import DataLoader
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, generator=generator,
                      num_workers=num_workers, sampler=sampler, drop_last=drop_last)


class Trainer:
    r"""Train and evaluate any model of the registry.

    Args:
        model: a ``torch.nn.Module``; graph models take a PyG ``Batch``, image
            models a tensor. It may return logits or ``(logits, edge_logits)``.
        task (str): ``single`` (cross-entropy, accuracy) or ``multilabel``
            (BCE with logits, mAP and CP/CR/CF1/OP/OR/OF1).
        device (str): ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        epochs, batch_size, lr, weight_decay: the usual.
        scheduler (str): ``cosine`` (to 0 over ``epochs``), ``plateau`` (halve on
            a 5-epoch plateau of the validation loss), ``step`` (x0.5 every
            ``epochs // 3``), ``none``.
        patience (int, optional): stop after this many epochs without a better
            monitored validation metric.
        amp (str | bool): mixed precision of the training steps; ``auto`` = on for CUDA
            (bf16 where supported, else fp16 with a grad scaler) and for a CPU with native
            bfloat16 (:func:`cpu_has_bf16`: bf16 autocast, matrix products in bf16, the
            sparse slot products and the loss in float32), off elsewhere. Evaluation and
            prediction on CPU stay in float32.
        edge_loss_weight (float): weight of the sample-graph edge loss when the
            model returns ``(logits, edge_logits)``.
        eval_train_size (int): size of the fixed training subset re-evaluated in
            eval mode each epoch (``train_eval_*``); 0 disables it.
        out_dir (str, optional): where ``last.pt``, ``checkpoint.pt``,
            ``history.csv`` and ``history.json`` go.
        seed (int): seeds initial weights order, data order and dropout.
        progress (bool): tqdm bars.
        checkpoint_extra (dict): JSON-able info stored in checkpoints (e.g. the
            dataset and graph parameters).
        dense (bool, optional): the padded neighbour path (:mod:`pyg_graphcls.train.fast`):
            ``None`` packs a graph data set once when the model supports it and the
            graphs fit (:func:`~pyg_graphcls.train.fast.dense_view`), ``False`` keeps
            PyG batches, ``True`` requires the dense path. Same parameters and logits
            either way.
    """

    def __init__(self, model: torch.nn.Module, *, task: str = "single", device: str = "auto",
                 epochs: int = 30, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 scheduler: str = "cosine", patience: Optional[int] = None, amp: Any = "auto",
                 edge_loss_weight: float = 0.0, eval_train_size: int = 1000,
                 out_dir: Optional[str | os.PathLike] = None, seed: int = 0, progress: bool = True,
                 num_workers: int = 0, checkpoint_extra: Optional[dict] = None,
                 distributed: Any = None, dense: Optional[bool] = None) -> None:
        if task not in TASKS:
            raise GraphclsError(f"task must be one of {TASKS}, got {task!r}")
        if epochs < 1 or batch_size < 1 or lr <= 0:
            raise GraphclsError(f"need epochs >= 1, batch_size >= 1, lr > 0 (got {epochs}, {batch_size}, {lr})")
        if scheduler not in ("cosine", "plateau", "step", "none"):
            raise GraphclsError(f"scheduler must be cosine, plateau, step or none, got {scheduler!r}")
        self.task = task
        self.device = resolve_device(device)
        self.epochs, self.batch_size, self.lr = int(epochs), int(batch_size), float(lr)
        self.weight_decay, self.scheduler_name, self.patience = weight_decay, scheduler, patience
        self.edge_loss_weight = float(edge_loss_weight)
        self.eval_train_size = int(eval_train_size)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.seed, self.progress, self.num_workers = int(seed), progress, num_workers
        self.checkpoint_extra = dict(checkpoint_extra or {})
        self.dist = distributed  # a pyg_graphcls.train.distributed.DistContext or None
        self.dense = dense
        self._dense_cache: dict = {}
        if amp == "auto":
            amp = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_bf16())
        self.amp = bool(amp) and self.device.type in ("cuda", "cpu")
        self.amp_dtype = (torch.float16 if self.device.type == "cuda" and not torch.cuda.is_bf16_supported()
                          else torch.bfloat16)
        self.model = model.to(self.device)
        self.train_model = self.dist.wrap(self.model) if self.dist is not None else self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=weight_decay)
        self.scheduler = self._make_scheduler()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.monitor = "val_accuracy" if task == "single" else "val_map"

    # ---------------------------------------------------------------- setup
    def _make_scheduler(self):
        opt = self.optimizer
        if self.scheduler_name == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs)
        if self.scheduler_name == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=5, min_lr=1e-5)
        if self.scheduler_name == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, self.epochs // 3), gamma=0.5)
        return None

    @property
    def is_main(self) -> bool:
        return self.dist is None or self.dist.rank == 0

    # ---------------------------------------------------------------- batches
    def _unpack(self, batch):
        from torch_geometric.data import Batch, Data
        if isinstance(batch, (Batch, Data)) or getattr(batch, "is_dense_batch", False):
            batch = batch.to(self.device, non_blocking=True)
            return batch, batch.y
        if isinstance(batch, (list, tuple)) and len(batch) == 2:
            x, y = batch
            return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        raise GraphclsError(f"cannot read a training batch of type {type(batch).__name__}: expected a PyG "
                            f"Batch or an (inputs, targets) pair")

    def _losses(self, out, y):
        edge_logits = None
        if isinstance(out, (tuple, list)):
            out, edge_logits = out[0], out[1]
        if self.task == "single":
            y = y.view(-1).long()
            if out.dim() != 2:
                raise GraphclsError(f"model returned shape {tuple(out.shape)}, expected [batch, classes]")
            if y.numel() and int(y.max()) >= out.size(1):
                raise GraphclsError(f"label {int(y.max())} but the model has {out.size(1)} classes: the class "
                                    f"count of the data and the model disagree")
            loss = F.cross_entropy(out.float(), y)
        else:
            y = y.view(out.shape).float()
            loss = F.binary_cross_entropy_with_logits(out.float(), y)
        eloss = None
        if edge_logits is not None and self.edge_loss_weight > 0:
            from ..graphs.sample_graph import edge_loss, label2edge
            eloss = edge_loss(edge_logits.float(), label2edge(y))
            loss = loss + self.edge_loss_weight * eloss
        return out, y, loss, eloss

    def _dense_view(self, dataset):
        """``dataset`` packed for the dense path when it applies (once per data set object)."""
        from .fast import dense_view
        if dataset is None:
            return None
        key = id(dataset)
        if key not in self._dense_cache:  # keeps the data set alive, so its id is not reused
            self._dense_cache[key] = (dataset, dense_view(dataset, self.model, self.dense, self.task, self.device))
        return self._dense_cache[key][1]

    def _autocast(self, train: bool = True):
        enabled = self.amp and (train or self.device.type == "cuda")  # CPU evaluation in float32
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=enabled)

    # ---------------------------------------------------------------- train
    def fit(self, train_dataset, val_dataset=None, resume: bool | str | os.PathLike = False,
            stop_after: Optional[int] = None) -> list[dict]:
        """Train; returns the history (one dict per epoch).

        ``resume=True`` continues from ``out_dir/last.pt`` when it exists;
        a path continues from that file. ``stop_after`` ends this call after
        that many epochs (the schedule still spans ``epochs``): a time-sliced
        job resumes later where it stopped.
        """
        if len(train_dataset) == 0:
            raise GraphclsError("the training set is empty")
        train_dataset, val_dataset = self._dense_view(train_dataset), self._dense_view(val_dataset)
        if resume:
            path = Path(resume) if not isinstance(resume, bool) else (self.out_dir / "last.pt" if self.out_dir else None)
            if path is not None and path.is_file():
                self.load_state(path)
        rng = torch.Generator().manual_seed(self.seed + 7919)
        n_eval = min(self.eval_train_size, len(train_dataset))
        eval_subset = _subset(train_dataset, torch.randperm(len(train_dataset), generator=rng)[:n_eval].sort().values) \
            if n_eval else None
        bad = 0
        first_epoch = self.start_epoch
        if self.history:
            best_so_far = [h.get(self.monitor) for h in self.history if h.get(self.monitor) is not None]
            bad = len(self.history) - 1 - max(range(len(best_so_far)), key=best_so_far.__getitem__) if best_so_far else 0
        for epoch in range(self.start_epoch, self.epochs):
            t0 = time.perf_counter()
            row = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self._train_epoch(train_dataset, epoch))
            if eval_subset is not None:
                ev = self.evaluate(eval_subset, confusion=False)
                row.update({f"train_eval_{k}": v for k, v in ev.items()})
            if val_dataset is not None and len(val_dataset):
                ev = self.evaluate(val_dataset, confusion=False)
                row.update({f"val_{k}": v for k, v in ev.items()})
            row["seconds"] = time.perf_counter() - t0
            self._step_scheduler(row)
            self.history.append(row)
            improved = False
            metric = row.get(self.monitor, row.get("train_eval_accuracy" if self.task == "single" else "train_eval_map"))
            if metric is not None and metric > self.best_metric:
                self.best_metric, self.best_epoch, improved = metric, epoch + 1, True
                bad = 0
            else:
                bad += 1
            self.start_epoch = epoch + 1
            if self.is_main and self.out_dir is not None:
                if improved:
                    save_checkpoint(self.out_dir / "checkpoint.pt", self.model, epoch=epoch + 1,
                                    metrics={k: v for k, v in row.items() if isinstance(v, (int, float))},
                                    **{**self.checkpoint_extra, "task": self.task})
                self.save_state(self.out_dir / "last.pt")
                self.write_history()
            if self.progress and self.is_main:
                self._print_row(row)
            if self.patience is not None and bad >= self.patience:
                break
            if stop_after is not None and epoch + 1 - first_epoch >= stop_after:
                break
        if self.dist is not None:
            self.dist.barrier()  # rank 0's last files are on disk before any rank reads them
        return self.history

    def _train_epoch(self, dataset, epoch: int) -> dict:
        from tqdm.auto import tqdm
        self.train_model.train()
        # the data order is a pure function of (seed, epoch): an explicit seeded permutation cut into
        # batches; distributed, each batch is split across the ranks (see train/distributed.py)
        from .distributed import GlobalBatchSampler
        data_seed = self.seed * 1_000_003 + epoch
        rank, world = (self.dist.rank, self.dist.world_size) if self.dist is not None else (0, 1)
        bsampler = GlobalBatchSampler(len(dataset), self.batch_size, rank, world, data_seed)
        loader = make_loader(dataset, self.batch_size, shuffle=False, num_workers=self.num_workers,
                             batch_sampler=bsampler)
        tot_loss = tot_edge = 0.0
        n = correct = 0
        for step, batch in enumerate(tqdm(loader, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                                          disable=None if (self.progress and self.is_main) else True)):
            inputs, y = self._unpack(batch)
            with self._autocast():
                out = self.train_model(inputs)
            logits, y, loss, eloss = self._losses(out, y)
            if not torch.isfinite(loss):
                raise GraphclsError(f"training loss became {loss.item()} in epoch {epoch + 1}: lower the "
                                    f"learning rate or check the data for NaN")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss * bsampler.scales[step] if world > 1 else loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            b = bsampler.counts[step]
            n += b
            tot_loss += loss.item() * b
            if eloss is not None:
                tot_edge += eloss.item() * b
            if self.task == "single" and b:
                correct += (logits.argmax(-1) == y).sum().item()
        stats = torch.tensor([tot_loss, tot_edge, correct, n], dtype=torch.float64)
        if self.dist is not None:
            stats = self.dist.all_reduce_sum(stats)
        tot_loss, tot_edge, correct, n = stats.tolist()
        row = {"train_loss": tot_loss / max(n, 1)}
        if self.task == "single":
            row["train_accuracy"] = correct / max(n, 1)
        if self.edge_loss_weight > 0 and tot_edge:
            row["train_edge_loss"] = tot_edge / max(n, 1)
        return row

    def _step_scheduler(self, row: dict) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row.get("val_loss", row["train_loss"]))
        else:
            self.scheduler.step()

    # ---------------------------------------------------------------- eval
    @torch.no_grad()
    def predict(self, dataset, batch_size: Optional[int] = None):
        """Return ``(logits [N, C], targets)`` over ``dataset`` in eval mode.

        Distributed: each rank predicts items ``rank, rank+N, ...`` and the
        parts are gathered, so every rank returns the whole set in order.
        """
        dataset = self._dense_view(dataset)
        if self.dist is not None and self.dist.world_size > 1:
            idx = torch.arange(self.dist.rank, len(dataset), self.dist.world_size)
            part = self._predict(_subset(dataset, idx), batch_size) if len(idx) else None
            parts = self.dist.all_gather_object((idx, part))
            got = [(i, p) for i, p in parts if p is not None]
            order = torch.argsort(torch.cat([i for i, _ in got]))
            return (torch.cat([p[0] for _, p in got])[order], torch.cat([p[1] for _, p in got])[order])
        return self._predict(dataset, batch_size)

    @torch.no_grad()
    def _predict(self, dataset, batch_size: Optional[int] = None):
        self.model.eval()
        loader = make_loader(dataset, batch_size or max(self.batch_size, 256), shuffle=False)
        outs, ys = [], []
        for batch in loader:
            inputs, y = self._unpack(batch)
            with self._autocast(train=False):
                out = self.model(inputs)
            if isinstance(out, (tuple, list)):
                out = out[0]
            outs.append(out.float().cpu())
            ys.append(y.cpu())
        return torch.cat(outs), torch.cat(ys)

    def evaluate(self, dataset, confusion: bool = True) -> dict:
        """Loss and metrics on ``dataset`` (plus the confusion matrix for single-label)."""
        logits, y = self.predict(dataset)
        if self.task == "single":
            y = y.view(-1).long()
            res = {"loss": F.cross_entropy(logits, y).item(), "accuracy": accuracy(logits, y)}
            if confusion:
                res["confusion_matrix"] = confusion_matrix(logits.argmax(-1), y, logits.size(1)).tolist()
            return res
        from .multilabel import mean_average_precision, multilabel_scores
        y = y.view(logits.shape).float()
        res = {"loss": F.binary_cross_entropy_with_logits(logits, y).item(),
               "map": mean_average_precision(logits, y)}
        res.update({k.lower(): v for k, v in multilabel_scores(logits, y).items()})
        return res

    # ---------------------------------------------------------------- state
    def schedule(self) -> dict:
        """What fixes the learning-rate schedule and the data order; stored in ``last.pt``."""
        return {"scheduler": self.scheduler_name, "epochs": self.epochs, "lr": self.lr,
                "weight_decay": float(self.weight_decay), "batch_size": self.batch_size, "seed": self.seed}

    def check_resume(self, path: str | os.PathLike) -> dict:
        """Load ``path`` (a ``last.pt``) and raise :class:`GraphclsError` saying what differs when its
        schedule, model config or recorded data do not match this trainer; returns the state."""
        ckpt = load_checkpoint(path)
        if "optimizer" not in ckpt:
            raise GraphclsError(f"{path} holds model weights only; resume needs a last.pt training state")
        diffs = resume_differences(ckpt, schedule=self.schedule(), extra=self.checkpoint_extra,
                                   model_config=getattr(self.model, "_graphcls_config", None))
        if diffs:
            raise GraphclsError(f"cannot resume from {path}: {'; '.join(diffs)} (resume with the settings of "
                                f"that run, or train into a new --out folder)")
        return ckpt

    def save_state(self, path: str | os.PathLike) -> None:
        save_checkpoint(path, self.model, epoch=self.start_epoch, schedule=self.schedule(),
                        optimizer=self.optimizer.state_dict(),
                        scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
                        scaler=self.scaler.state_dict(), history=self.history, best_metric=self.best_metric,
                        best_epoch=self.best_epoch, rng_state=torch.get_rng_state(),
                        **{**self.checkpoint_extra, "task": self.task})

    def load_state(self, path: str | os.PathLike) -> None:
        ckpt = self.check_resume(path)
        try:
            self.model.load_state_dict(ckpt["model_state"])
        except RuntimeError as e:
            raise GraphclsError(f"{path} does not fit this model ({str(e).splitlines()[0]})") from None
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.history = list(ckpt.get("history", []))
        self.start_epoch = int(ckpt["epoch"])
        self.best_metric = float(ckpt.get("best_metric", -math.inf))
        self.best_epoch = int(ckpt.get("best_epoch", 0))
        if ckpt.get("rng_state") is not None:
            torch.set_rng_state(ckpt["rng_state"])

    def write_history(self) -> None:
        if self.out_dir is None:
            return
        write_json(self.history, self.out_dir / "history.json")
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.history)
        text = buf.getvalue()
        atomic_write(self.out_dir / "history.csv", lambda f: f.write(text), mode="w")

    @staticmethod
    def _print_row(row: dict) -> None:
        from tqdm.auto import tqdm
        parts = [f"epoch {row['epoch']:3d}"]
        for k in ("train_loss", "train_accuracy", "train_eval_accuracy", "val_loss", "val_accuracy",
                  "train_eval_map", "val_map"):
            if k in row and row[k] is not None:
                parts.append(f"{k} {row[k]:.4f}")
        parts.append(f"{row['seconds']:.1f}s")
        tqdm.write("  ".join(parts))
