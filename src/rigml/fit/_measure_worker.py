"""Child process of ``rig fit --measure``: one job as JSON on stdin, one JSON line out.

Kept apart from the parent so that the peak memory it reads belongs to this workload only.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rigml._units import format_bytes

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class _InputError(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _rss_now() -> int:
    with open("/proc/self/statm") as fh:
        import os

        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset VmHWM (Linux 4.0+: writing 5 to clear_refs); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _build(job: dict[str, Any], torch: Any, device: str) -> Any:
    import transformers

    cfg = dict(job["config"])
    model_type = cfg.pop("model_type", None)
    if not model_type:
        raise _InputError("the config has no model_type", "add model_type to config.json")
    cfg.pop("architectures", None)
    try:
        config = transformers.AutoConfig.for_model(model_type, **cfg)
    except (ValueError, KeyError) as exc:
        raise _InputError(
            f"transformers {transformers.__version__} cannot build {model_type!r}: {exc}",
            "upgrade transformers, or drop --measure",
        ) from exc
    attn = "eager" if job["attention"] == "eager" else "sdpa"
    dtype = getattr(torch, _DTYPES[job["dtype"]])
    auto = transformers.AutoModel if job["encoder"] else transformers.AutoModelForCausalLM
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build the weights in their dtype, no fp32 detour
    try:
        with torch.device(device):
            model = auto.from_config(config, attn_implementation=attn)  # type: ignore[no-untyped-call]
    finally:
        torch.set_default_dtype(previous)
    return model


def _workload(job: dict[str, Any], torch: Any, device: str) -> None:
    """Build the model and run the task once: what the peak is measured over."""
    model = _build(job, torch, device)
    vocab = int(getattr(model.config, "vocab_size", 0) or 1000)
    shape = (job["batch"], job["context"])
    ids = torch.randint(0, vocab, shape, device=device)
    if job["task"] == "infer":
        model.eval()
        with torch.inference_mode():
            if job["encoder"]:
                model(input_ids=ids)
            else:
                model(input_ids=ids, use_cache=True, logits_to_keep=1)
    else:
        if job["task"] in ("lora", "qlora"):
            import peft

            targets = job["lora_targets"]
            lora = peft.LoraConfig(
                r=job["lora_rank"],
                lora_alpha=2 * job["lora_rank"],
                lora_dropout=0.0,
                target_modules=targets if targets == "all-linear" else list(targets),
            )
            model = peft.get_peft_model(model, lora)
        if job["gradient_checkpointing"]:
            model.gradient_checkpointing_enable()
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = {
            "adamw": lambda: torch.optim.AdamW(params, lr=1e-5),
            "sgd": lambda: torch.optim.SGD(params, lr=1e-5, momentum=0.9),
        }.get(job["optimizer"])
        if opt is None:
            raise _InputError(f"--measure runs adamw or sgd, not {job['optimizer']}", "")
        optimizer = opt()
        # Two steps: the optimizer creates its states in the first, so only the second
        # shows the steady state of a training run (states resident during backward).
        for _ in range(2):
            if job["encoder"]:
                loss = model(input_ids=ids).last_hidden_state.float().pow(2).mean()
            else:
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            del loss


def _warm_up(job: dict[str, Any], torch: Any, device: str) -> None:
    """Run a two-layer, narrow copy of the job first, so that lazy imports, kernel caches
    and allocator arenas exist before the baseline is taken and do not count."""
    cfg = dict(job["config"])
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if key in cfg:
            cfg[key] = min(2, int(cfg[key]))
    small = {**job, "config": cfg, "context": min(16, job["context"]), "batch": 1}
    _workload(small, torch, device)
    import gc

    gc.collect()


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    want = job["device"]
    cuda = torch.cuda.is_available() and want in ("auto", "cuda")
    if want == "cuda" and not cuda:
        raise _InputError("no CUDA GPU is visible to torch", "measure on the CPU: --device cpu")
    if job["task"] == "qlora" and not cuda:
        raise _InputError(
            "QLoRA needs bitsandbytes' 4-bit kernels on a CUDA GPU",
            "measure --task lora on this machine, or run --measure on a GPU machine",
        )
    device = "cuda" if cuda else "cpu"
    _warm_up(job, torch, device)
    if cuda:
        free, _total = torch.cuda.mem_get_info()
        if job["limit_bytes"] > free:
            raise _InputError(
                f"the estimate ({format_bytes(job['limit_bytes'])}) exceeds the GPU's free "
                f"memory ({format_bytes(free)})",
                "measure a shorter --context or smaller --batch",
            )
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        import os

        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if job["limit_bytes"] > 0.8 * avail:
            raise _InputError(
                f"the estimate ({format_bytes(job['limit_bytes'])}) is more than 80% of this "
                f"machine's free RAM ({format_bytes(avail)})",
                "measure a smaller model, --context or --batch",
            )
        if not _reset_peak_rss():
            raise _InputError("this kernel does not let a process reset its peak RSS", "")
        base = _rss_now()
    torch.manual_seed(0)
    start = time.perf_counter()
    _workload(job, torch, device)
    seconds = time.perf_counter() - start
    if cuda:
        torch.cuda.synchronize()
        name = torch.cuda.get_device_name()
        return {
            "device": f"cuda:{torch.cuda.current_device()} ({name})",
            "peak_bytes": torch.cuda.max_memory_allocated() - base,
            "reserved_bytes": torch.cuda.max_memory_reserved(),
            "seconds": seconds,
            "method": "torch.cuda.max_memory_allocated",
        }
    return {
        "device": "cpu",
        "peak_bytes": _peak_rss() - base,
        "reserved_bytes": None,
        "seconds": seconds,
        "method": "peak RSS growth (VmHWM)",
    }


def main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        out = _run(job)
    except _InputError as exc:
        out = {"error": str(exc), "hint": exc.hint or None, "kind": "input"}
    except Exception as exc:  # reported to the parent, which raises MeasureFailed
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0 if "error" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
