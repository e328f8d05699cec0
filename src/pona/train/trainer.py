"""Training PoNA (or PATN), Sec. III-F of the paper, read top to bottom.

Per iteration (``Trainer.train_step``), as in the released code:

1. generator: ``I_g = G(I_c, P_c, P_t)``; loss eq. (8) with both discriminators frozen; Adam step;
2. appearance discriminator D_A on ``(I_t, I_c)`` (real) vs ``(I_g, I_c)`` (fake); Adam step;
3. pose discriminator D_P on ``(I_t, P_t)`` (real) vs ``(I_g, P_t)`` (fake); Adam step.

The fakes the discriminators see pass through the image pools (``optim.pool_size``, 0 = off).
The learning rate is constant for ``optim.constant_iterations``, then decays linearly to 0 over
``optim.decay_iterations`` (``pona.train.schedule``); with a wall-clock budget and
``optim.time_decay``, the budget's last part also takes it to 0.

Data order: every training pair once per epoch, in a shuffled order that is a pure function of
(seed, epoch) (``epoch_order``), split over processes like DistributedSampler; the field's
loaders drew 4000 random pairs per "epoch" instead. Flips are a pure function of
(seed, epoch, index) in ``PairDataset``. So a resumed run needs only the iteration number to
continue the data stream mid-epoch, and the RNG states (dropout, pools) saved in the checkpoint
to reproduce the uninterrupted run's losses exactly.

Run directory::

    config.yaml                  the resolved TrainConfig
    generator.safetensors        the generator at the last checkpoint (load_generator(run_dir))
    generator-best.safetensors   the generator with the best validation SSIM
                                 (both: the weight average when optim.ema_half_life > 0)
    metrics.jsonl                losses, lr, speed, validation metrics (see pona.train.monitor)
    samples/iter-XXXXXXXX.png    grids of fixed validation pairs
    tensorboard/                 TensorBoard scalars (when tensorboard is installed)
    checkpoints/state-XXXXXXXX.pt  training states (see pona.train.checkpoint), last K + best
"""

from __future__ import annotations

import copy
import logging
import math
import time
import types
import warnings
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data.dataset import PairDataset, to_uint8
from ..data.validate import check_dataset
from ..errors import DataError, PonaError
from ..models import build_generator
from ..models.discriminator import Discriminator
from ..models.io import check_fits, load_strict, save_generator
from ..models.vgg import vgg19_features
from ..precision import Precision, autocast, resolve_precision, to_layout
from . import checkpoint, distributed
from .config import ConfigError, TrainConfig
from .losses import GANLoss, PerceptualLoss, discriminator_loss, generator_loss
from ..metrics.colour import colour_error, colour_summary
from ..metrics.psnr import l1_legacy, psnr
from ..metrics.ssim import ssim_legacy
from .monitor import MetricsLog, image_grid, save_png, truncate_metrics
from .pool import ImagePool
from .rundir import RunLock, clear_run_dir, prepare_run_dir, remove_stale_temporaries
from .schedule import lr_factor, param_groups, update_ema
from .seeding import derived_seed, epoch_order, seed_everything
from .stop import StopRequest

log = logging.getLogger(__name__)

NETS = ("generator", "appearance_d", "pose_d")
LOSS_KEYS = ("g_gan", "g_l1", "g_perc", "g_total", "d_appearance", "d_pose")


class TrainingDiverged(PonaError):
    """Too many non-finite losses in a row; the last good checkpoint is kept."""


# -- helpers ------------------------------------------------------------------------------------

def validate_dataset(root: Path, splits: tuple[str, ...]) -> None:
    """Refuse bad data before anything trains: the full report of ``pona data check``."""
    check_dataset(root, splits)


def _changed_keys(old: dict, new: dict) -> list[str]:
    return [f"{section}.{k}: {old.get(section, {}).get(k)!r} -> {v!r}"
            for section, values in new.items() for k, v in values.items()
            if old.get(section, {}).get(k) != v]


# -- the trainer ----------------------------------------------------------------------------------

class Trainer:
    """``Trainer(config, run_dir).train()``; ``resume=True`` continues the run in ``run_dir``.

    Everything that can fail on the user's input fails here, before any training: the options,
    the run directory, the VGG-19 weights of the perceptual loss, the dataset.
    """

    def __init__(self, config: TrainConfig, run_dir, resume: bool = False, overwrite: bool = False):
        self._lock = None
        try:
            self._setup(config, run_dir, resume, overwrite)
        except BaseException:
            if self._lock is not None:  # a run that never started frees its directory at once
                self._lock.release()
            raise

    def _setup(self, config: TrainConfig, run_dir, resume: bool, overwrite: bool) -> None:
        cfg = self.config = config
        self.run_dir = Path(run_dir)
        self.env = env = distributed.setup(cfg.run.device)
        self.device = env.device
        if env.is_main:  # before anything reads or clears the run directory: one run at a time
            self._lock = RunLock(self.run_dir).acquire()
            weakref.finalize(self, self._lock.release)  # at exit, or when this trainer is dropped
        prepare_run_dir(self.run_dir, resume, overwrite)
        if env.is_main:
            remove_stale_temporaries(self.run_dir)
        self._check_options()
        self.precision = self._resolve_precision()

        # 1. the perceptual loss first: without VGG-19 weights the paper presets stop here
        self.perceptual = None
        if cfg.loss.lambda_perceptual > 0:
            vgg = vgg19_features(cfg.loss.vgg_weights, cfg.loss.vgg_weights_dir, download=cfg.loss.vgg_download)
            self.perceptual = PerceptualLoss(vgg).to(self.device)
        self.gan = GANLoss(cfg.loss.gan_mode)

        # 2. data: checked, then the fixed training stream and the held-out validation pairs
        self.train_set, self.val_set = self._datasets()
        self.steps_per_epoch = len(epoch_order(len(self.train_set), cfg.run.seed, 0, env.rank, env.world_size)) // cfg.optim.batch_size
        if self.steps_per_epoch == 0:
            raise DataError(f"{cfg.data.root}: {len(self.train_set)} training pairs are fewer than "
                            f"optim.batch_size ({cfg.optim.batch_size}) x {env.world_size} process(es)")

        # 3. networks (same initialisation on every rank; DDP also broadcasts rank 0's), optimizers
        torch.manual_seed(cfg.run.seed)
        d_cfg = replace(cfg.discriminator, norm=cfg.model.norm)  # both Ds take the generator's norm, as released
        self.nets = {
            "generator": build_generator(cfg.model),
            "appearance_d": Discriminator(replace(d_cfg, in_channels=6)),   # (I, I_c)
            "pose_d": Discriminator(replace(d_cfg, in_channels=21)),        # (I, P_t)
        }
        if cfg.run.recompute_blocks:
            self.nets["generator"].recompute_blocks = True
        if cfg.run.sync_batchnorm and env.distributed:
            self.nets = {k: distributed.sync_batchnorm(m) for k, m in self.nets.items()}
        for m in self.nets.values():
            to_layout(m.to(self.device), self.precision).train()  # weights stay fp32 in any precision
        o = cfg.optim
        # fused: one kernel for all of a network's tensors instead of a dozen small ops per tensor
        # (the same update; G's Adam step 5.7 -> 1.6 ms at the demo's size on CPU)
        fused = self.device.type in ("cpu", "cuda")
        self.optimizers = {k: torch.optim.Adam(param_groups(m, o.lr, o.gate_lr_mult if k == "generator" else 1.0),
                                               lr=o.lr, betas=(o.beta1, o.beta2), fused=fused)
                           for k, m in self.nets.items()}
        # optim.time_decay: the share of the learning rate the clock leaves, in a holder of its own
        # (a lambda reading self would keep the trainer, and its run lock, alive after train())
        self.time_share = time_share = types.SimpleNamespace(value=1.0)
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: lr_factor(i, o.constant_iterations, o.decay_iterations) * time_share.value)
            for k, opt in self.optimizers.items()}
        # forward: compiled (or not) modules; train: the same behind DDP. The G step runs the
        # discriminators frozen and outside DDP (no gradient of theirs is reduced there).
        self.forward = {k: torch.compile(m) if cfg.run.compile else m for k, m in self.nets.items()}
        self.wrapped = {k: distributed.wrap(m, env) for k, m in self.forward.items()}
        # the averaged generator (optim.ema_half_life), never trained directly
        self.ema = copy.deepcopy(self.nets["generator"]).requires_grad_(False) if o.ema_half_life > 0 else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.name == "fp16")
        self.pools = {k: ImagePool(o.pool_size, derived_seed(cfg.run.seed, env.rank, i))
                      for i, k in enumerate(("appearance_d", "pose_d"))}

        # 4. state: fresh, or the newest readable checkpoint of run_dir
        self.iteration = 0
        self.best: dict = {}
        self.last_checkpoint_iteration = self.last_val_iteration = -1
        self.last_step_skipped = False
        state = checkpoint.load_latest(self.run_dir / "checkpoints") if resume else None
        if state is not None:
            self._load(state)
        else:
            if resume:
                log.warning("%s: no checkpoint written yet, starting from iteration 0", self.run_dir)
            seed_everything(derived_seed(cfg.run.seed, env.rank, 99))

        # 5. the run directory (rank 0 writes, the others wait)
        if env.is_main:
            if overwrite:
                clear_run_dir(self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
            truncate_metrics(self.run_dir / "metrics.jsonl", self.iteration)
        distributed.barrier(env)
        self.metrics = None  # opened by train(), on rank 0

    # -- setup helpers ----------------------------------------------------------------------------

    def _check_options(self) -> None:
        cfg, dev = self.config, self.device
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"run.device={cfg.run.device}: CUDA is not available here (use run.device=cpu or auto)")
        if cfg.run.sync_batchnorm and self.env.distributed and dev.type != "cuda":
            raise ConfigError("run.sync_batchnorm needs CUDA (SyncBatchNorm has no CPU kernel)")
        if cfg.data.root is None:
            raise ConfigError("no dataset: set data.root (`pona train --data DIR`)")
        if Path(cfg.data.root).resolve() == self.run_dir.resolve():
            raise ConfigError(f"the run directory {self.run_dir} is the dataset directory (data.root): "
                              "choose another --out, the run's files must not mix with the data")
        try:
            check_fits(cfg.model, "model")
        except PonaError as e:
            raise ConfigError(str(e)) from None

    def _resolve_precision(self) -> Precision:
        """run.amp and run.channels_last on this device (pona.precision: bf16 only where native)."""
        run = self.config.run
        amp = "fp32" if run.amp == "none" else run.amp
        layout = None if run.channels_last == "auto" else run.channels_last
        try:
            return resolve_precision(amp, self.device, channels_last=layout, setting="run.amp")
        except PonaError as e:
            raise ConfigError(str(e)) from None

    def _datasets(self) -> tuple[PairDataset, PairDataset | None]:
        cfg = self.config
        root = Path(cfg.data.root)
        has_test = (root.is_dir() and any(root.glob("*-annotation-test.csv")))
        if cfg.data.validate:
            validate_dataset(root, ("train", "test") if has_test else ("train",))
        train = PairDataset(root, "train", flip=cfg.data.flip, sigma=cfg.data.sigma, seed=cfg.run.seed)
        if len(train) == 0:
            raise DataError(f"{train.layout.pairs}: no training pairs")
        h, w = train[0]["source_image"].shape[1:]
        if (h, w) != tuple(cfg.model.image_size):
            raise DataError(f"{train.layout.images}: images are {h}x{w} but model.image_size is "
                            f"{cfg.model.image_size[0]}x{cfg.model.image_size[1]}; set model.image_size={h}x{w}")
        val = None
        if has_test and cfg.run.val_every:
            val = PairDataset(root, "test", flip=False, sigma=cfg.data.sigma)
            if len(val) == 0:
                val = None
        if val is None and cfg.run.val_every:
            log.warning("%s: no test split: no validation grids, metrics or best checkpoint", root)
        return train, val

    # -- one iteration --------------------------------------------------------------------------------

    def _autocast(self):
        return autocast(self.precision, self.device)

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return to_layout(x.to(self.device, non_blocking=True), self.precision)

    def _set_d_grad(self, flag: bool) -> None:
        for k in ("appearance_d", "pose_d"):
            self.nets[k].requires_grad_(flag)

    def train_step(self, batch: dict) -> dict[str, float]:
        """One full iteration: G step, then D_A step, then D_P step (Sec. III-F).

        A non-finite loss (on any process) skips its step and sets ``last_step_skipped``: a bad
        generator loss skips the whole iteration, a bad discriminator loss that discriminator's
        update; the losses are returned as they are, non-finite.
        Returns the losses as floats: g_gan, g_l1, g_perc, g_total, d_appearance, d_pose.
        """
        cfg, env, opt = self.config, self.env, self.optimizers
        I_c, P_c = self._to_device(batch["source_image"]), self._to_device(batch["source_maps"])
        I_t, P_t = self._to_device(batch["target_image"]), self._to_device(batch["target_maps"])
        lambdas = (cfg.loss.lambda_gan, cfg.loss.lambda_l1, cfg.loss.lambda_perceptual)
        self.last_step_skipped = False
        # forward passes update buffers (batch-norm statistics, spectral-norm vectors): a skipped
        # step puts them back, so one bad batch cannot poison the running statistics
        saved = {k: [b.detach().clone() for b in m.buffers()] for k, m in self.nets.items()}

        # 1. generator step, discriminators frozen: eq. (8) with L_CGAN on (I_g, I_c) and (I_g, P_t)
        # (before loss.gan_start: no L_CGAN, and the discriminators are not run at all)
        adversarial = self.iteration >= cfg.loss.gan_start
        self._set_d_grad(False)
        with self._autocast():
            I_g = self.wrapped["generator"](I_c, P_c, P_t)
            logits_a = self.forward["appearance_d"](torch.cat([I_g, I_c], 1)) if adversarial else None
            logits_p = self.forward["pose_d"](torch.cat([I_g, P_t], 1)) if adversarial else None
            g_terms = generator_loss(I_g.float(), I_t, *(None if x is None else x.float() for x in (logits_a, logits_p)),
                                     self.gan, self.perceptual, lambdas)
        if distributed.any_true(not torch.isfinite(g_terms["g_total"]).item(), env):
            return self._skip({k: v.item() for k, v in g_terms.items()}, saved)
        opt["generator"].zero_grad(set_to_none=True)
        self.scaler.scale(g_terms["g_total"]).backward()
        self.scaler.step(opt["generator"])
        if self.ema is not None:
            update_ema(self.ema, self.nets["generator"], cfg.optim.ema_half_life, self.iteration + 1)

        # 2.-3. discriminator steps on the same (detached) fakes, through the image pools
        self._set_d_grad(True)
        I_g = I_g.detach()
        d_losses = {}
        for name, key, condition in (("appearance_d", "d_appearance", I_c), ("pose_d", "d_pose", P_t)):
            if not adversarial:  # nothing to learn from yet: logged as 0
                d_losses[key] = I_g.new_zeros((), dtype=torch.float32)
                continue
            with self._autocast():
                fake = self.pools[name].query(torch.cat([I_g, condition], 1))
                loss = discriminator_loss(self.wrapped[name](torch.cat([I_t, condition], 1)).float(),
                                          self.wrapped[name](fake).float(), self.gan)
            d_losses[key] = loss
            if distributed.any_true(not torch.isfinite(loss).item(), env):
                self.last_step_skipped = True
                self._restore_buffers(name, saved[name])
                continue
            opt[name].zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(opt[name])
        self.scaler.update()
        values = torch.stack([g_terms[k].detach().float() for k in LOSS_KEYS[:4]]
                             + [d_losses[k].detach().float() for k in LOSS_KEYS[4:]]).tolist()
        return dict(zip(LOSS_KEYS, values))

    def _skip(self, g_losses: dict, saved: dict) -> dict[str, float]:
        self.last_step_skipped = True
        self._set_d_grad(True)
        for name, buffers in saved.items():
            self._restore_buffers(name, buffers)
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)
        return {**g_losses, "d_appearance": math.nan, "d_pose": math.nan}

    @torch.no_grad()
    def _restore_buffers(self, name: str, buffers: list) -> None:
        for b, old in zip(self.nets[name].buffers(), buffers):
            b.copy_(old)

    # -- the loop -------------------------------------------------------------------------------------

    def batches(self, start_iteration: int):
        """The training stream from ``start_iteration`` on: epoch after epoch, resumable mid-epoch."""
        cfg, env = self.config, self.env
        B, steps = cfg.optim.batch_size, self.steps_per_epoch
        epoch, step = divmod(start_iteration, steps)
        while True:
            order = epoch_order(len(self.train_set), cfg.run.seed, epoch, env.rank, env.world_size)
            self.train_set.set_epoch(epoch)  # the flips of this epoch
            loader = DataLoader(
                self.train_set, batch_sampler=[order[i:i + B] for i in range(step * B, steps * B, B)],
                num_workers=cfg.data.num_workers, pin_memory=self.device.type == "cuda",
                # its own generator: creating a loader must not draw from the global RNG
                generator=torch.Generator().manual_seed(derived_seed(cfg.run.seed, epoch)))
            yield from loader
            epoch, step = epoch + 1, 0

    def train(self, max_iterations: int | None = None, max_minutes: float | None = None) -> dict:
        """Train until ``optim`` total iterations, or ``max_iterations`` more, or ``max_minutes``
        of wall clock, or Ctrl-C / SIGTERM: every one of these stops with a checkpoint.

        Returns ``{"iteration", "stopped" ("done" | "max_iterations" | "max_minutes" | signal
        name), "checkpoint" (path or None), "best"}``.
        """
        cfg, env = self.config, self.env
        total = cfg.optim.total_iterations
        end = total if max_iterations is None else min(total, self.iteration + max_iterations)
        deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        decay_s = 60.0 * max_minutes * cfg.optim.time_decay if deadline is not None else 0.0
        if env.is_main:
            self.metrics = MetricsLog(self.run_dir / "metrics.jsonl",
                                      self.run_dir / "tensorboard" if cfg.run.tensorboard else None,
                                      purge_step=self.iteration + 1 if self.iteration else None)
        if env.is_main:
            log.info("precision: %s", self.precision)
        self._precision_logged = False  # the first train record of this session names it
        bar = self._progress_bar(total)
        stream = self.batches(self.iteration)
        sums, count, bad, t_log, t0 = {}, 0, 0, time.perf_counter(), time.perf_counter()
        stopped = "done" if end == total else "max_iterations"
        stop = StopRequest()
        try:
            with stop.installed():
                while self.iteration < end:
                    losses = self.train_step(next(stream))
                    self.iteration += 1
                    with warnings.catch_warnings():
                        # before loss.gan_start the discriminators' optimizers do not step; their
                        # schedules still count iterations, so that all three stay in step
                        warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before")
                        if decay_s > 0:
                            self.time_share.value = min(1.0, max(0.0, (deadline - time.monotonic()) / decay_s))
                        for s in self.schedulers.values():
                            s.step()
                    # non-finite losses: skipped above; stop after max_bad_steps in a row
                    if self.last_step_skipped:
                        bad += 1
                        log.warning("iteration %d: non-finite loss %s, step skipped (%d in a row)",
                                    self.iteration, {k: round(v, 4) for k, v in losses.items()}, bad)
                        if bad >= cfg.run.max_bad_steps:
                            raise TrainingDiverged(self._diverged_message(bad))
                    else:
                        bad = 0
                        for k, v in losses.items():
                            sums[k] = sums.get(k, 0.0) + v
                        count += 1
                    if bar is not None:  # running means since the last log line
                        bar.update(1)
                        bar.set_postfix({k: f"{v / max(count, 1):.3f}" for k, v in sums.items()
                                         if k != "g_perc" or self.perceptual}, refresh=False)
                    if count and self.iteration % cfg.run.log_every == 0:
                        now = time.perf_counter()
                        self._log_train({k: v / count for k, v in sums.items()}, count / (now - t_log), now - t0)
                        sums, count, t_log = {}, 0, now
                    # no validation or checkpoint inside a run of skipped steps: the last good one stays
                    if bad == 0 and self.val_set is not None and cfg.run.val_every and self.iteration % cfg.run.val_every == 0:
                        self.validate()
                    if bad == 0 and self.iteration % cfg.run.checkpoint_every == 0:
                        self.save_checkpoint()
                    out_of_time = deadline is not None and time.monotonic() > deadline
                    if distributed.any_true(out_of_time or stop.reason is not None, env):
                        stopped = stop.reason or "max_minutes"
                        break
            if count:  # the iterations since the last log line
                self._log_train({k: v / count for k, v in sums.items()}, count / (time.perf_counter() - t_log),
                                time.perf_counter() - t0)
            if stop.reason is None and self.val_set is not None and cfg.run.val_every and self.last_val_iteration != self.iteration:
                self.validate()  # the final model takes part in the choice of generator-best
            path = self.save_checkpoint() if self.last_checkpoint_iteration != self.iteration else None
        finally:
            if bar is not None:
                bar.close()
            if self.metrics is not None:
                self.metrics.close()
        if path is None and env.is_main:
            path = checkpoint.state_path(self.run_dir / "checkpoints", self.iteration)
        log.debug("stopped at iteration %d (%s)", self.iteration, stopped)
        return {"iteration": self.iteration, "stopped": stopped, "checkpoint": path if env.is_main else None,
                "best": dict(self.best)}

    def _progress_bar(self, total: int):
        if not (self.env.is_main and self.config.run.progress):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=self.iteration, unit="it", dynamic_ncols=True, desc="train")

    def _diverged_message(self, bad: int) -> str:
        states = checkpoint.list_states(self.run_dir / "checkpoints")
        last = f"the last good checkpoint is {states[-1][1]}" if states else "no checkpoint was written yet"
        return (f"{bad} non-finite iterations in a row (last at iteration {self.iteration}): training stopped; "
                f"{last}. Lower optim.lr, check the data, or resume from it with --resume")

    def _log_train(self, means: dict, rate: float, elapsed: float) -> None:
        means = distributed.mean(means, self.env)
        if self.metrics is None:
            return
        epoch = (self.iteration - 1) // self.steps_per_epoch
        lr = self.optimizers["generator"].param_groups[0]["lr"]
        record = {"kind": "train", "iteration": self.iteration, "epoch": epoch, "lr": lr,
                  **{k: round(v, 6) for k, v in means.items()},
                  "it_per_s": round(rate, 4), "elapsed_s": round(elapsed, 1)}
        if not self._precision_logged:
            record["precision"] = self.precision.label
            self._precision_logged = True
        self.metrics.write(record)

    # -- validation ---------------------------------------------------------------------------------------

    def val_indices(self) -> list[int]:
        """The fixed held-out pairs: ``run.val_pairs`` spread evenly over the test split."""
        n = len(self.val_set)
        k = min(self.config.run.val_pairs, n)
        return sorted({int(i) for i in np.linspace(0, n - 1, k)}) if k else []

    @torch.no_grad()
    def validate(self) -> dict | None:
        """Rank 0: SSIM/PSNR/L1 and the share of pairs in the right colours (pona.metrics.colour) on
        the fixed held-out pairs, a PNG grid, generator-best by SSIM."""
        if not self.env.is_main or self.val_set is None:
            return None
        cfg, G = self.config, self.exported_generator
        G.eval()
        self.last_val_iteration = self.iteration
        scores, colour, rows = [], [], []
        try:
            for n, i in enumerate(self.val_indices()):
                item = self.val_set[i]
                with self._autocast():
                    out = G(*(self._to_device(item[k][None]) for k in ("source_image", "source_maps", "target_maps")))
                generated, target = to_uint8(out[0].float()), to_uint8(item["target_image"])
                scores.append((ssim_legacy(target, generated), psnr(target, generated), l1_legacy(target, generated)))
                colour.append(colour_error(target, generated, item["target_keypoints"].numpy()))
                if n < cfg.run.grid_pairs:
                    rows.append({"condition": to_uint8(item["source_image"]), "generated": generated, "target": target,
                                 "source_keypoints": item["source_keypoints"].numpy(),
                                 "target_keypoints": item["target_keypoints"].numpy()})
        finally:
            G.train()
        if rows:
            save_png(image_grid(rows), self.run_dir / "samples" / f"iter-{self.iteration:08d}.png")
        s, right = np.array(scores), colour_summary(colour)["colour_right"]
        # SSIM rewards an averaged person nearly as much as one in the condition's colours: the
        # colour share shows when appearance transfer starts (null when no pose gave a region)
        record = {"kind": "val", "iteration": self.iteration, "ssim": round(float(s[:, 0].mean()), 6),
                  "psnr": round(float(s[:, 1].mean()), 4), "l1": round(float(s[:, 2].mean()), 6),
                  "colour_right": None if np.isnan(right) else round(float(right), 4), "pairs": len(s)}
        if self.metrics is not None:
            self.metrics.write(record)
        if not self.best or record["ssim"] > self.best["value"]:
            self.best = {"metric": "ssim", "value": record["ssim"], "iteration": self.iteration}
            save_generator(G, self.run_dir / "generator-best.safetensors", self._metadata())
        log.info("iteration %d: validation ssim %.4f psnr %.2f l1 %.4f colours right %s", self.iteration,
                 record["ssim"], record["psnr"], record["l1"],
                 "-" if record["colour_right"] is None else f"{record['colour_right']:.2f}")
        return record

    # -- checkpoints --------------------------------------------------------------------------------------

    @property
    def exported_generator(self) -> torch.nn.Module:
        """The generator that is validated and saved as generator*.safetensors: the average if any."""
        return self.ema if self.ema is not None else self.nets["generator"]

    def _metadata(self) -> dict:
        return {"iteration": self.iteration, "run": self.run_dir.name, "dataset": self.config.data.root}

    def save_checkpoint(self) -> Path | None:
        """Every rank: gather per-rank RNG and pool states; rank 0: write the training state
        atomically, export generator.safetensors, prune old states. Returns the path on rank 0."""
        env = self.env
        for name, m in self.nets.items():
            if not all(torch.isfinite(p).all() for p in m.parameters()):
                raise TrainingDiverged(f"{name} has non-finite weights at iteration {self.iteration}: "
                                       f"not saving; {self._diverged_message(0).split('; ', 1)[1]}")
        rank_state = {"rng": checkpoint.rng_state(), "pools": {k: p.state_dict() for k, p in self.pools.items()}}
        ranks = distributed.gather_objects(rank_state, env)
        path = None
        if env.is_main:
            directory = self.run_dir / "checkpoints"
            path = checkpoint.save_state(directory, {
                "iteration": self.iteration,
                "config": self.config.to_dict(),
                "models": {k: m.state_dict() for k, m in self.nets.items()},
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
                "ranks": ranks,
                "best": dict(self.best),
            })
            save_generator(self.exported_generator, self.run_dir / "generator.safetensors", self._metadata())
            checkpoint.prune(directory, self.config.run.keep_last, {self.best["iteration"]} if self.best else set())
            log.debug("checkpoint %s", path)
        self.last_checkpoint_iteration = self.iteration
        distributed.barrier(env)
        return path

    def _load(self, state: dict) -> None:
        changed = _changed_keys(state["config"], self.config.to_dict())
        if changed:
            log.warning("resuming with a changed config: %s", ", ".join(changed))
        for k, m in self.nets.items():
            load_strict(m, state["models"][k], f"{self.run_dir}/checkpoints (state {state['iteration']}), {k}")
        if self.ema is not None:
            if state.get("ema") is not None:
                load_strict(self.ema, state["ema"], f"{self.run_dir}/checkpoints (state {state['iteration']}), ema")
            else:
                log.warning("%s: the checkpoint has no weight average; it starts from the generator", self.run_dir)
                self.ema.load_state_dict(self.nets["generator"].state_dict())
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        ranks = state["ranks"]
        if len(ranks) == self.env.world_size:
            checkpoint.set_rng_state(ranks[self.env.rank]["rng"])
            for k, p in self.pools.items():
                p.load_state_dict(ranks[self.env.rank]["pools"][k], self.device)
        else:
            log.warning("checkpoint was written by %d process(es), this run has %d: fresh random streams "
                        "and pools (training continues, but not bit-for-bit as before)", len(ranks), self.env.world_size)
            seed_everything(derived_seed(self.config.run.seed, self.env.rank, state["iteration"]))
        self.iteration = self.last_checkpoint_iteration = state["iteration"]
        self.best = dict(state["best"])
        log.info("resumed %s at iteration %d", self.run_dir, self.iteration)
