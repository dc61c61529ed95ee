"""Train the triage network; one process, or many under torchrun with the same command.

    quayscan train --synth 3000:100:linac-6-3 --synth 1000:200:mobile-4-2 --out runs/default --epochs 4
    quayscan train --data data/train --val-data data/val --out runs/exp1
    torchrun --nproc_per_node=2 -m quayscan.cli train --synth 400:1:linac-6-3 --out runs/ddp --epochs 1
    quayscan train --init runs/default/best.pt --data data/export --out runs/finetune --epochs 2

Each epoch: a pass over the training samples (progress bar), then a validation pass; ``last.pt`` and
``best.pt`` carry the network config, preprocessing, class names, data recipe and optimizer state, and
a run resumes from ``last.pt`` when started again with the same --out. At the end the thresholds are
calibrated on the validation set and stored in ``best.pt``, ready for ``quayscan export``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from quayscan.datasets.commodities import class_names
from quayscan.model.network import NetConfig, TriageNet
from quayscan.model.preprocess import PreprocessConfig
from quayscan.training.augment import PasteDense, TrainTransform, crop, place
from quayscan.training.calibrate import calibrate, calibration_record
from quayscan.training.data import OBJECT, SCENE, Sample, load_samples
from quayscan.training.metrics import compute_metrics

log = logging.getLogger(__name__)


def setup_distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun (gloo on CPU, nccl on GPU)."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def units(samples: list[Sample]) -> list[list[int]]:
    """Sample indices grouped so an honest twin stays with the scan it was drawn with (it follows it)."""
    out: list[list[int]] = []
    for i, smp in enumerate(samples):
        if out and str(smp.record.get("id", "")).endswith("-honest"):
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _groups(samples: list[Sample], batch_size: int, width: int, rng: np.random.Generator | None):
    """Batches of sample indices with their frame width: short scans (a 20 ft box) are batched together
    in a narrower frame, so no compute goes into padding; shuffled when rng is given. A scan and its
    honest twin land in the same batch (but for a batch boundary between them), so a step sees the pair."""
    short = -(-(width // 2 + 64) // 32) * 32
    buckets: dict[int, list[int]] = {}
    groups_of = units(samples)
    order = rng.permutation(len(groups_of)) if rng is not None else np.arange(len(groups_of))
    for u in order:
        for i in groups_of[u]:
            buckets.setdefault(short if samples[i].x.shape[2] <= short else width, []).append(int(i))
    groups = [(w, idx[s : s + batch_size]) for w, idx in buckets.items() for s in range(0, len(idx), batch_size)]
    if rng is not None:
        groups = [groups[k] for k in rng.permutation(len(groups))]
    return groups


def batches(samples: list[Sample], batch_size: int, width: int, rng: np.random.Generator | None,
            transform: TrainTransform | None, paste: PasteDense | None = None, window: bool = False):
    """Yield (x, mask, visible, commodity) tensors; shuffled and augmented when rng is given.

    Without rng the order is the samples' own (validation, prediction) in a frame of ``width``. With
    ``window`` (training only) each scan is cut to a random window of ``width`` columns that holds its
    anomaly boxes whole or not at all, and a window without its scan's boxes is a clean sample.
    """
    groups = _groups(samples, batch_size, width, rng) if rng is not None else \
        [(width, list(range(s, min(len(samples), s + batch_size)))) for s in range(0, len(samples), batch_size)]
    for width, idx in groups:
        xs, ms, vs = [], [], []
        chunk = [samples[i] for i in idx]
        for smp in chunk:
            x, m, v = smp.x.astype(np.float32), smp.mask, smp.visible
            if paste is not None:
                x, m, pasted = paste(x, m, rng)
                v = max(v, int(pasted))
            if transform is not None:
                x, m = transform(x, m, rng)
            if window and rng is not None:
                x, m, shows = crop(x, m, width, rng)
                v = v if shows is None else int(shows)
            x, m = place(x, m, width, rng)
            xs.append(x)
            ms.append(m)
            vs.append(v)
        # channels-last is the layout CPU convolutions run fastest in (about 1.7x for this network)
        yield (torch.from_numpy(np.stack(xs)).contiguous(memory_format=torch.channels_last),
               torch.from_numpy(np.stack(ms)).float(),
               torch.tensor(vs, dtype=torch.float32), torch.tensor([commodity_target(smp) for smp in chunk]))


#: the commodity target of a scan whose true goods nobody confirmed: cross-entropy skips it
UNKNOWN_COMMODITY = -100


def commodity_target(smp: Sample) -> int:
    """The class index to learn, or UNKNOWN_COMMODITY for an exported case whose goods were not confirmed
    (a finding: the declaration is all we know, and a manifest mismatch means it is wrong)."""
    return UNKNOWN_COMMODITY if smp.record.get("truth", {}).get("commodity_confirmed") is False else smp.commodity


def loss_fn(net: torch.nn.Module, x, mask, visible, commodity,
            heat_pos_weight: float = 20.0, heat_cells: float = 0.0,
            scene_boxes: str = "target", heat_weight: float = 1.0,
            hard_negatives: int = 0, hard_weight: float = 5.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Image, heatmap and commodity losses of one batch.

    Anomaly cells of the heatmap weigh ``heat_pos_weight`` against clean ones. With ``heat_cells`` > 0 a
    scan's anomaly cells together weigh at most that many cells' worth: a large box of ordinary-looking
    cargo (undeclared goods, a stack of bricks) then counts as one finding, not as hundreds of cells that
    teach the map that any cargo may be anomalous, while a small object keeps the full weight per cell.

    ``scene_boxes``: what the map learns inside the box of a scene anomaly (undeclared goods, a false
    wall): ``target`` (anomalous, like an object's box) or ``ignore`` (no heatmap loss there; the image
    label alone makes the map find what in the box gives the scene away).

    ``heat_weight`` scales the heatmap term. The image term's gradient lands on the few hottest cells,
    the heatmap term's is spread as a mean over thousands of cells, so at weight 1 a cell learns almost
    only from the image label: in a loaded scan whose anomaly the map cannot find yet, that raises
    whatever cargo cell is hottest, and the map learns that cargo is suspicious.

    ``hard_negatives`` K > 0 adds a term on each scan's K hottest cells that should be cold (outside every
    box and the cell ring around it), weighted ``hard_weight``: the scan's score is a smooth maximum over
    its cells, so a clean scan is released only if its hottest cells are cold, and a mean over thousands
    of cells hardly sees those few.
    """
    inspect_logit, commodity_logits, heat = net(x, heat_logits=True)  # heat: (B, h, w) logits
    stride = x.shape[-1] // heat.shape[-1]
    if scene_boxes not in ("target", "ignore"):
        raise ValueError(f"scene_boxes must be 'target' or 'ignore', got {scene_boxes!r}")
    objects = (mask == OBJECT) if scene_boxes == "ignore" else (mask > 0)
    target = F.max_pool2d(objects.float()[:, None], stride)[:, 0]  # a cell is positive if any box pixel is in it
    dont_care = (F.max_pool2d((mask == SCENE).float()[:, None], stride)[:, 0] > 0) & (target == 0) \
        if scene_boxes == "ignore" else torch.zeros_like(target, dtype=torch.bool)
    # small concealed objects are what a network learns last: weigh scans by how few cells their boxes cover
    cells = target.flatten(1).sum(dim=1)  # (B,)
    sample_w = torch.where(cells > 0, 1.0 + 4.0 / cells.clamp(min=1.0).sqrt(), torch.ones_like(cells))
    l_img = F.binary_cross_entropy_with_logits(inspect_logit, visible, weight=sample_w, pos_weight=torch.tensor(2.0))
    pos = torch.full_like(cells, heat_pos_weight - 1.0)  # anomaly cells are few: weigh them up
    if heat_cells > 0:
        pos = pos * (heat_cells / cells.clamp(min=1.0)).clamp(max=1.0)
    weight = (1.0 + pos[:, None, None] * target).masked_fill(dont_care, 0.0)
    l_heat = F.binary_cross_entropy_with_logits(heat, target, weight=weight)
    known = commodity != UNKNOWN_COMMODITY
    l_cls = F.cross_entropy(commodity_logits[known], commodity[known], label_smoothing=0.05) if known.any() \
        else commodity_logits.sum() * 0.0
    total = l_img + heat_weight * l_heat + l_cls
    parts = {"img": l_img.item(), "heat": l_heat.item(), "cls": l_cls.item()}
    if hard_negatives > 0:
        near = F.max_pool2d(F.max_pool2d(mask.float()[:, None], stride), 3, stride=1, padding=1)[:, 0] > 0
        cold = heat.masked_fill(near, -1e4).flatten(1)  # (B, h*w): cells that must be cold, the rest far below
        top = cold.topk(min(hard_negatives, cold.shape[1]), dim=1).values
        l_hard = F.binary_cross_entropy_with_logits(top, torch.zeros_like(top))
        total = total + hard_weight * l_hard
        parts["hard"] = l_hard.item()
    return total, parts


def prefetch(it, depth: int = 2):
    """Iterate ``it`` on a background thread, ``depth`` items ahead: the next batch is augmented (numpy,
    which releases the GIL) while the network trains on this one. Errors surface in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work():
        try:
            for item in it:
                q.put(item)
            q.put(done)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def windowed(args, epoch: int) -> bool:
    """Whether epoch (from 0) trains on windows: with ``--window``, its first ``--window-epochs`` epochs
    (all of them by default); the epochs after it see whole frames, as validation and serving do."""
    return bool(args.window) and (args.window_epochs is None or epoch < args.window_epochs)


def train_width(args, epoch: int) -> int:
    """The frame width an epoch's batches are cut to: the window or the whole frame."""
    return args.window if windowed(args, epoch) else args.width


def steps_per_epoch(samples: list[Sample], args, world: int, epoch: int) -> int:
    """Batches per epoch; under DDP the smallest over the processes, since every step is a collective."""
    steps = torch.tensor(len(_groups(samples, args.batch_size, train_width(args, epoch), None)))
    if world > 1:
        dist.all_reduce(steps, op=dist.ReduceOp.MIN)
    return int(steps)


def train_one_epoch(net, opt, sched, samples, args, rng, transform, epoch: int, rank: int,
                    steps: int, paste: PasteDense | None = None, ema: AveragedModel | None = None) -> dict[str, float]:
    net.train()
    sums: dict[str, float] = {}
    it = prefetch(itertools.islice(batches(samples, args.batch_size, train_width(args, epoch), rng, transform, paste,
                                           window=windowed(args, epoch)), steps))
    bar = tqdm(it, total=steps,
               desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", disable=rank != 0 or args.no_progress)
    for x, m, v, c in bar:
        loss, parts = loss_fn(net, x, m, v, c, args.heat_pos_weight, args.heat_cells, args.scene_boxes,
                              args.heat_weight, args.hard_negatives, args.hard_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update_parameters(net.module if hasattr(net, "module") else net)
        for k, val in parts.items():
            sums[k] = sums.get(k, 0.0) + val
        bar.set_postfix({k: f"{val:.3f}" for k, val in parts.items()})
    return {k: v / max(1, steps) for k, v in sums.items()}


@torch.no_grad()
def predict(net, samples: list[Sample], args) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly and commodity probabilities for samples, in order."""
    core = net.module if hasattr(net, "module") else net
    core.eval()
    probs, classes = [], []
    for x, _, _, _ in batches(samples, args.batch_size, args.width, None, None):
        logit, cls, _ = core(x)
        probs.append(torch.sigmoid(logit).numpy())
        classes.append(torch.softmax(cls, dim=1).numpy())
    if not probs:
        return np.zeros(0), np.zeros((0, len(class_names())))
    return np.concatenate(probs), np.concatenate(classes)


def checkpoint(net, opt, sched, epoch: int, args, recipe, extra: dict[str, Any],
               ema: AveragedModel | None = None) -> dict[str, Any]:
    """What a checkpoint holds; with an average of the weights, ``model`` is the average (what is exported)
    and ``live_model`` the weights training goes on from."""
    core = net.module if hasattr(net, "module") else net
    live = {"live_model": core.state_dict()} if ema is not None else {}
    return {"model": (ema.module if ema is not None else core).state_dict(), **live, "net_config": core.cfg.to_dict(),
            "preprocess": PreprocessConfig().to_dict() if not hasattr(args, "preprocess") else args.preprocess.to_dict(),
            "class_names": class_names(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch,
            "data_recipe": recipe, "args": {k: v for k, v in vars(args).items() if k not in ("run", "preprocess")},
            **extra}


def split(samples: list[Sample], fraction: float) -> tuple[list[Sample], list[Sample]]:
    """Hold out every k-th scan for validation (deterministic), an honest twin on the side of its scan."""
    k = max(2, int(round(1 / fraction)))
    groups = units(samples)
    return ([samples[i] for n, u in enumerate(groups) if n % k != 0 for i in u],
            [samples[i] for n, u in enumerate(groups) if n % k == 0 for i in u])


def main(args) -> int:
    rank, world = setup_distributed()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.preprocess = PreprocessConfig()
    progress = rank == 0 and not args.no_progress
    separate_val = bool(args.val_data or args.val_synth)
    if separate_val:
        # each process draws only its own shard of the training scans; validation runs on rank 0 alone
        train, recipe = load_samples(args.data, args.synth, args.preprocess, workers=args.workers,
                                     progress=progress, twins=args.twins, shard=(rank, world))
        val, val_recipe = load_samples(args.val_data, args.val_synth, args.preprocess, workers=args.workers,
                                       progress=progress, exact=True) if rank == 0 else ([], [])
    else:
        samples, recipe = load_samples(args.data, args.synth, args.preprocess, workers=args.workers,
                                       progress=progress, exact=True, twins=args.twins)
        train, val = split(samples, args.val_fraction)
        for s in train:
            s.x = s.x.astype(np.float16)  # validation keeps float32, exactly what serving computes
        val_recipe = [{"held_out": f"every {max(2, int(round(1 / args.val_fraction)))}th sample of the training sources"}]
        train = [train[i] for u in units(train)[rank::world] for i in u]  # each process trains on its shard
    if not train or (rank == 0 and not val):
        raise ValueError(f"need training and validation scans, got {len(train)} and {len(val)}")
    data_recipe = {"train": recipe, "val": val_recipe}
    net = TriageNet(NetConfig(num_classes=len(class_names()), heat_stride=args.heat_stride))
    if args.init:
        state = torch.load(args.init, map_location="cpu", weights_only=False)
        net = TriageNet(NetConfig.from_dict(state["net_config"]))  # fine-tuning keeps the architecture it starts from
        net.load_state_dict(state["model"])
        log.info("initialised from %s", args.init)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    epoch_steps = [steps_per_epoch(train, args, world, e) for e in range(args.epochs)]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, sum(epoch_steps)),
                                                pct_start=0.15)
    start, best = 0, -1.0
    if (out / "last.pt").is_file() and not args.init:
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        planned = state.get("args", {}).get("epochs", args.epochs)
        if planned != args.epochs:
            raise ValueError(f"{out} holds a run planned for {planned} epochs (its learning-rate schedule ends "
                             f"there): resume it with --epochs {planned}, or fine-tune into a new --out with --init")
        net.load_state_dict(state.get("live_model", state["model"]))
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best = state["epoch"] + 1, state.get("best_score", -1.0)
        log.info("resuming %s at epoch %d", out, start + 1)
    net = net.to(memory_format=torch.channels_last)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    if ema is not None and start > 0:
        ema.module.load_state_dict(state["model"])
        ema.n_averaged.fill_(1)  # go on averaging, not start again from the live weights
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    if rank == 0:
        (out / "config.json").write_text(json.dumps({**checkpoint(net, opt, sched, -1, args, data_recipe, {})["args"],
                                                     "preprocess": args.preprocess.to_dict(), "world_size": world,
                                                     "data_recipe": data_recipe}, indent=2, default=str))
    rng = np.random.default_rng([args.seed, rank])
    transform = TrainTransform(max_attenuation=args.preprocess.max_attenuation)
    paste = PasteDense(max_attenuation=args.preprocess.max_attenuation, pitch_mm=args.preprocess.pitch_mm,
                       p=args.paste) if args.paste > 0 else None
    names = class_names()
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        losses = train_one_epoch(net, opt, sched, train, args, rng, transform, epoch, rank, epoch_steps[epoch],
                                 paste, ema)
        if rank != 0:
            continue
        anomaly, commodity = predict(ema.module if ema is not None else net, val, args)
        records = [s.record for s in val]
        thresholds = calibrate(anomaly, commodity, records, names, args.target_recall)
        metrics = compute_metrics(anomaly, commodity, records, names, thresholds)
        score = metrics["release_rate"] + metrics["commodity_top1"] + (metrics["auc"] if metrics["auc"] == metrics["auc"] else 0)
        log.info("epoch %d: loss %s, val auc %.4f, release rate %.3f at recall %.3f, commodity top-1 %.3f (%.0f s)",
                 epoch + 1, {k: round(v, 4) for k, v in losses.items()}, metrics["auc"], metrics["release_rate"],
                 metrics["inspect_recall"], metrics["commodity_top1"], time.perf_counter() - t0)
        extra = {"thresholds": thresholds.to_dict(), "val_metrics": metrics, "best_score": max(best, score)}
        state = checkpoint(net, opt, sched, epoch, args, data_recipe, extra, ema)
        torch.save(state, out / "last.pt")
        if score > best:
            best = score
            torch.save(state, out / "best.pt")
        with open(out / "history.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch + 1, "loss": losses, "auc": metrics["auc"],
                                "release_rate": metrics["release_rate"], "inspect_recall": metrics["inspect_recall"],
                                "commodity_top1": metrics["commodity_top1"]}) + "\n")
    if rank == 0 and (args.cal_data or args.cal_synth):
        calibrate_best(out, val, args)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


def calibrate_best(out: Path, val: list[Sample], args) -> None:
    """Choose the thresholds of ``best.pt`` again on its validation scans and the calibration scans
    (``--cal-data``, ``--cal-synth``) together: a 0.99 recall on a few hundred validation scans rests on
    their two or three hardest, a threshold that does not carry over to new scans."""
    cal, recipe = load_samples(args.cal_data, args.cal_synth, args.preprocess, workers=args.workers,
                               progress=not args.no_progress, exact=True)
    state = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    net = TriageNet(NetConfig.from_dict(state["net_config"]))
    net.load_state_dict(state["model"])
    samples = val + cal
    anomaly, commodity = predict(net.to(memory_format=torch.channels_last), samples, args)
    records, names = [s.record for s in samples], state["class_names"]
    thresholds = calibrate(anomaly, commodity, records, names, args.target_recall)
    state["calibration"] = calibration_record(anomaly, commodity, records, names, thresholds,
                                              ["validation set", *recipe])
    state["calibration"]["previous_thresholds"] = state["thresholds"]
    state["thresholds"] = thresholds.to_dict()
    state["val_metrics"] = compute_metrics(anomaly[: len(val)], commodity[: len(val)], records[: len(val)], names,
                                           thresholds)  # the validation figures at the thresholds that ship
    state["data_recipe"]["calibration"] = recipe
    torch.save(state, out / "best.pt")
    log.info("calibrated on %d scans (%d to inspect): inspect threshold %.4f -> %.4f, release rate %.3f",
             len(samples), state["calibration"]["n_inspect"], state["calibration"]["previous_thresholds"]["inspect"],
             thresholds.inspect, state["calibration"]["release_rate"])
