"""`audiorag finetune`: a LoRA adapter for a text model, trained with mlx-lm's trainer called as a library
(mlx_lm.tuner: linear_to_lora_layers, trainer.train / TrainingArgs, datasets), on the library's own text
(rag/finetune_data.py), and stored as an adapter pack (rag/adapters.py).

A run: load the base model, turn its last `layers` blocks' linear layers into LoRA layers (resuming: load the
adapter's weights), measure perplexity on the held-out library text, train within the iteration and time budgets
(progress after every step), measure again, write the pack (and, with `fuse`, a fused MLX folder). Ctrl-C keeps
what was trained so far (`--resume` goes on from it).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.adapters import CONFIG, ROLE, WEIGHTS, check_name, checked_adapter
from rag.finetune_data import FinetuneError, as_plain, record_kind, training_data
from rag.models import ModelError

Progress = Callable[[dict], None]


@dataclass
class FinetuneRequest:
    name: str | None = None  # default: "<base>-tuned"
    base: str | None = None  # default: llm.model (the smollm2-135m-instruct pack)
    sources: tuple[str, ...] = ("text",)
    data_file: str | None = None  # the user's own JSONL instead of the library
    iters: int = 200
    minutes: float | None = None  # time budget for the training steps (evaluation not counted)
    resume: bool = False
    force: bool = False  # replace an adapter of the same name
    fuse: str | None = None  # a folder for the fused model ("" → <models_dir>/<name>-fused)
    batch_size: int = 4
    learning_rate: float = 5e-5
    # passes over the training records a run may make (0: no cap): a small library's few hundred words are learnt
    # by heart after a few, and held-out perplexity then rises (measured: docs/finetune.md)
    epochs: float = 3.0
    layers: int = 8  # blocks, from the last, that get LoRA layers
    rank: int = 8
    scale: float = 20.0
    max_seq_length: int = 512
    seed: int = 0
    lora: dict = field(default_factory=dict)  # filled from the above (or from the resumed adapter)


def _target(req: FinetuneRequest, settings) -> tuple[Path, dict | None]:
    """The adapter's folder and, when resuming, its manifest; the request's base and name settled."""
    from rag.models.pull import read_manifest

    models = settings.models_path
    if req.resume:
        if not req.name:
            raise FinetuneError("--resume needs --name: the adapter to go on training")
        folder, manifest = checked_adapter(req.name, models)
        if manifest is None:
            raise FinetuneError(f"'{req.name}' is not an adapter pack made by audiorag finetune")
        if req.base and req.base != manifest.get("base"):
            raise FinetuneError(f"adapter '{req.name}' was trained on {manifest.get('base')}, not {req.base}")
        req.base = manifest["base"]
        config = json.loads((folder / CONFIG).read_text())
        req.layers, req.lora = int(config["num_layers"]), dict(config["lora_parameters"])
        return folder, manifest
    req.base = req.base or settings.llm.model
    req.name = check_name(req.name or f"{Path(str(req.base)).name}-tuned")
    folder = models / req.name
    if folder.exists() and not req.force:
        what = "an adapter" if (read_manifest(req.name, models) or {}).get("role") == ROLE else "a folder"
        raise FinetuneError(f"{what} named '{req.name}' exists in {models}: --resume goes on training it, "
                            "--force replaces it, or choose another --name")
    req.lora = {"rank": req.rank, "dropout": 0.0, "scale": req.scale}
    return folder, None


def _datasets(records: list[dict], tokenizer, fit: int):
    """An mlx-lm dataset for records of one or more kinds (text, messages, prompt/completion)."""
    from mlx_lm.tuner.datasets import CacheDataset, ConcatenatedDataset, create_dataset

    records = as_plain(records, bool(getattr(tokenizer, "chat_template", None)))
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(record_kind(r), []).append(r)
    parts = [create_dataset(g, tokenizer, types.SimpleNamespace()) for g in groups.values()]
    data = parts[0] if len(parts) == 1 else ConcatenatedDataset(parts)
    if len(data) < fit:
        raise FinetuneError(f"{len(data)} training record(s): at least {fit} are needed (--batch-size {fit})")
    return CacheDataset(data)


def perplexity(model, dataset, max_seq_length: int) -> float | None:
    """exp(mean next-token loss) over the dataset, one record at a time; None without data."""
    if dataset is None or len(dataset) == 0:
        return None
    from mlx_lm.tuner.trainer import evaluate

    loss = evaluate(model=model, dataset=dataset, batch_size=1, num_batches=-1, max_seq_length=max_seq_length)
    return round(math.exp(loss), 3)


class _QuietUI:
    """Stands in for mlx-lm's TrainUI (its own progress bar on stdout): progress is reported by the callback."""

    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return lambda *a, **k: None


def _budgeted(iterate, state: dict, progress: Progress):
    """mlx-lm's iterate_batches, stopped when the time budget is spent; counts finished steps and reports them."""

    def iterate_batches(*args, **kwargs):
        for batch in iterate(*args, **kwargs):
            now = time.monotonic()
            if state["done"]:
                per = (now - state["t0"]) / state["done"]
                left = per * (state["iters"] - state["done"])
                if state["deadline"]:
                    left = min(left, max(0.0, state["deadline"] - now))
                progress({"iteration": state["start"] + state["done"], "of": state["start"] + state["iters"],
                          "loss": state.get("loss"), "elapsed_s": now - state["t0"], "left_s": left})
            if state["deadline"] and now >= state["deadline"]:
                state["stopped"] = "time"
                return
            state["done"] += 1  # counted as it starts: zip() in trainer.train stops without asking for more
            yield batch

    return iterate_batches


def _train(model, train_set, req: FinetuneRequest, folder: Path, start: int, progress: Progress) -> dict:
    """Train within the budgets; returns {"done", "seconds", "stopped", "loss"}. The weights are in `model`."""
    import mlx.optimizers as optim
    from mlx_lm.tuner import trainer
    from mlx_lm.tuner.callbacks import TrainingCallback

    state = {"done": 0, "iters": req.iters, "start": start, "t0": time.monotonic(), "stopped": None,
             "deadline": time.monotonic() + req.minutes * 60 if req.minutes else None}

    class Report(TrainingCallback):
        def on_train_loss_report(self, info):
            state["loss"] = round(float(info["train_loss"]), 4)

    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f".{folder.name}.training.safetensors"
    args = trainer.TrainingArgs(batch_size=req.batch_size, iters=req.iters, steps_per_report=1,
                                steps_per_eval=10**9, steps_per_save=10**9, max_seq_length=req.max_seq_length,
                                adapter_file=str(scratch))
    ui, trainer.TrainUI = trainer.TrainUI, _QuietUI
    try:
        trainer.train(model=model, optimizer=optim.Adam(learning_rate=req.learning_rate), train_dataset=train_set,
                      args=args, iterate_batches=_budgeted(trainer.iterate_batches, state, progress),
                      training_callback=Report())
    except KeyboardInterrupt:
        state["stopped"], state["done"] = "interrupted", max(0, state["done"] - 1)  # the step cut short
    finally:
        trainer.TrainUI = ui
        scratch.unlink(missing_ok=True)
    return {"done": state["done"], "seconds": round(time.monotonic() - state["t0"], 1),
            "stopped": state["stopped"], "loss": state.get("loss")}


def _load(req: FinetuneRequest, settings, folder: Path | None):
    """(model with LoRA layers, tokenizer, config, base path); a resumed adapter's weights loaded."""
    from rag.models.resolve import resolve_model
    from rag.runtime import mx

    mx()
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    base_path = resolve_model(req.base, "llm", settings)
    model, tokenizer, config = load(str(base_path), return_config=True)
    if req.layers > len(model.layers) or req.layers < 1:
        raise FinetuneError(f"--layers {req.layers}: {req.base} has {len(model.layers)} blocks")
    model.freeze()
    linear_to_lora_layers(model, req.layers, req.lora)
    if folder is not None:
        try:
            model.load_weights(str(folder / WEIGHTS), strict=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"adapter '{req.name}' cannot be resumed: {str(exc).splitlines()[0]}") from None
    return model, tokenizer, config, base_path


def _save(model, folder: Path, req: FinetuneRequest, manifest: dict) -> None:
    """Write the adapter pack whole: into `<name>.partial`, then renamed over the old one."""
    import mlx.core as mxc
    from mlx.utils import tree_flatten

    from rag.models.pull import _files, _record_mtimes, sha256_file

    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mxc.save_safetensors(str(tmp / WEIGHTS), dict(tree_flatten(model.trainable_parameters())))
    (tmp / CONFIG).write_text(json.dumps({"fine_tune_type": "lora", "num_layers": req.layers,
                                          "lora_parameters": req.lora}, indent=2))
    manifest["files"] = {str(p.relative_to(tmp)): sha256_file(p) for p in _files(tmp)}
    manifest["sizes"] = {str(p.relative_to(tmp)): p.stat().st_size for p in _files(tmp)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    _record_mtimes(folder, manifest)


def fuse(model, tokenizer, config: dict, base_path: Path, out: Path) -> Path:
    """The LoRA layers folded into the base weights, written as a plain MLX model folder (mlx_lm.utils.save)."""
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import save

    fused = [(n, m.fuse()) for n, m in model.named_modules() if hasattr(m, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    shutil.rmtree(out, ignore_errors=True)
    save(out, base_path, model, tokenizer, config, donate_model=False)
    for extra in ("chat_template.jinja",):  # the packs keep their template beside the tokenizer
        if (Path(base_path) / extra).exists() and not (out / extra).exists():
            shutil.copy(Path(base_path) / extra, out / extra)
    return out


def _manifest(req: FinetuneRequest, old: dict | None, base_path: Path, about: dict, run: dict,
              figures: dict) -> dict:
    runs = [*(old or {}).get("runs", []), {**run, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    base_ppl = (old or {}).get("figures", {}).get("perplexity_base", figures["perplexity_before"])
    return {"name": req.name, "role": ROLE, "base": req.base, "base_path": str(base_path), "data": about,
            "iterations": sum(r["iterations"] for r in runs),
            "training": {"batch_size": req.batch_size, "learning_rate": req.learning_rate, "epochs": req.epochs,
                         "layers": req.layers,
                         "lora": req.lora, "max_seq_length": req.max_seq_length, "seed": req.seed},
            "figures": {"perplexity_base": base_ppl, **figures,
                        "train_seconds": round(sum(r["seconds"] for r in runs), 1)},
            "runs": runs, "created": (old or {}).get("created") or runs[-1]["finished"]}


def finetune(req: FinetuneRequest, settings=None, progress: Progress = lambda info: None,
             note: Callable[[str], None] = lambda m: None) -> dict:
    """Train (or go on training) adapter `req.name`; returns its manifest. `progress` gets a dict after every
    step (iteration, of, loss, elapsed_s, left_s); `note` a line at each stage.

    OpenBLAS runs with the cores other processes leave free (rag.runtime.free_cores): on a busy machine a pool
    sized to every core collapses (measured here: a 4 x 193-token forward pass 69 s at 2 threads, 18 s at 1)."""
    from rag.runtime import blas_threads, free_cores, mx

    mx()
    with blas_threads(free_cores()):
        return _finetune(req, settings, progress, note)


def _finetune(req: FinetuneRequest, settings, progress: Progress, note: Callable[[str], None]) -> dict:
    import mlx.core as mxc

    from rag.settings import get_settings
    from rag.store import Store

    settings = settings or get_settings()
    if req.iters < 0 or (req.minutes is not None and req.minutes <= 0):
        raise FinetuneError("--iters must be 0 or more and --minutes more than 0")
    folder, old = _target(req, settings)
    records, held, about = training_data(Store(settings), tuple(req.sources), req.data_file)
    if old and not req.data_file and old.get("data", {}).get("held_out_passages") != about["held_out_passages"]:
        note("the library changed since the last run: the held-out passages are not the same ones")
    mxc.random.seed(req.seed)
    note(f"loading {req.base}")
    model, tokenizer, config, base_path = _load(req, settings, folder if old else None)
    req.batch_size = max(1, min(req.batch_size, len(records)))
    train_set = _datasets(records, tokenizer, req.batch_size)
    cap = math.ceil(req.epochs * len(train_set) / req.batch_size) if req.epochs else 0
    if cap and req.iters > cap:
        note(f"{cap} iterations, not {req.iters}: {req.epochs:g} passes over {len(train_set)} records (more would "
             "learn them by heart; --epochs 0 lifts the cap)")
        req.iters = cap
    test_set = _datasets(held, tokenizer, 1) if held else None
    note(f"{len(records)} training records, {len(held)} held out; measuring perplexity on the held-out text")
    before = perplexity(model, test_set, req.max_seq_length)
    start = int((old or {}).get("iterations") or 0)
    run = {"iterations": 0, "seconds": 0.0, "stopped": None, "loss": None}
    if req.iters:
        note(f"training {req.iters} iterations" + (f" or {req.minutes:g} min" if req.minutes else ""))
        out = _train(model, train_set, req, folder, start, progress)
        run = {"iterations": out["done"], "seconds": out["seconds"], "stopped": out["stopped"], "loss": out["loss"]}
    after = perplexity(model, test_set, req.max_seq_length) if run["iterations"] else before
    figures = {"perplexity_before": before, "perplexity_after": after,
               "held_out_tokens": sum(len(test_set[i][0]) for i in range(len(test_set))) if test_set else 0,
               "final_loss": run["loss"]}
    manifest = _manifest(req, old, base_path, about, run, figures)
    _save(model, folder, req, manifest)
    note(f"adapter '{req.name}' saved at {folder}")
    if req.fuse is not None:
        out_dir = Path(req.fuse).expanduser() if req.fuse else settings.models_path / f"{req.name}-fused"
        fuse(model, tokenizer, config, base_path, out_dir)
        manifest["fused"] = str(out_dir)
        from rag.models.pull import _record_mtimes

        _record_mtimes(folder, manifest)
        note(f"fused model written to {out_dir} (use it as --llm-model {out_dir})")
    if run["stopped"] == "interrupted":
        note(f"interrupted after {run['iterations']} iterations, which are saved: --resume --name {req.name} "
             "goes on")
        raise KeyboardInterrupt
    return manifest
