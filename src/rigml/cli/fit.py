"""``rig fit``: will this model fit on this machine for this task, and what to change if not.

The command parses its options, calls :func:`rigml.fit.service.run_fit` and renders the
outcome. Every memory figure is in GiB, as nvidia-smi and NVML count a GPU's memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.fit.architecture import ModelSpec
    from rigml.fit.measure import Measurement
    from rigml.fit.planner import FitReport, Mitigation
    from rigml.fit.request import FitRequest
    from rigml.fit.service import FitOutcome

_VERDICT_STYLE = {"comfortable": "green", "tight": "yellow", "no": "bold red"}


def verdict(status: str, label: str) -> object:
    """A verdict coloured by how well it fits (shared with the quickstart)."""
    from rigml.cli import _ui

    return _ui.Styled(f"[{_VERDICT_STYLE[status]}]{label}[/]")


def _gib(n: int | float | None, *, digits: int = 2) -> str:
    """Every memory figure ``rig fit`` prints, in GiB as nvidia-smi and NVML count them."""
    from rigml._units import GIB

    return "-" if n is None else f"{n / GIB:,.{digits}f} GiB"


# ---------------------------------------------------------------------------- options

_MODEL = typer.Argument(
    None,
    help="Catalogue name or Hub id (see --list), a model folder, config.json, "
    ".safetensors or .gguf file.",
    show_default=False,
)
_TASK = typer.Option("infer", "--task", "-t", help="infer, lora, qlora or full.")
_DTYPE = typer.Option("bf16", "--dtype", help="Compute dtype: fp32, bf16, fp16.")
_QUANT = typer.Option(
    None,
    "--quant",
    "-q",
    help="Weight quantisation: int8, nf4, fp4, gptq-4bit, gptq-8bit, awq-4bit, fp8, or a "
    "GGUF type (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K...).",
)
_DOUBLE_QUANT = typer.Option(
    None, "--double-quant/--no-double-quant", help="bitsandbytes double quantisation."
)
_CONTEXT = typer.Option(
    None,
    "--context",
    "-c",
    help="Tokens per sequence, or pixels per side for diffusion (default: 4096 for "
    "inference, 2048 for training; the model's own resolution for diffusion).",
)
_BATCH = typer.Option(1, "--batch", "-b", help="Sequences (images) at once (micro-batch).")
_KV_DTYPE = typer.Option(
    None, "--kv-dtype", help="KV cache: fp16, bf16, fp8, q8_0, q4_0 (default: fp16)."
)
_LORA_RANK = typer.Option(16, "--lora-rank", "-r", help="LoRA rank.")
_LORA_TARGETS = typer.Option(
    "all-linear",
    "--lora-targets",
    help="all-linear, attention, qv, mlp, or module names: q_proj,v_proj.",
)
_GC = typer.Option(
    False, "--gradient-checkpointing", "--gc", help="Recompute activations in backward."
)
_OPTIMIZER = typer.Option("adamw", "--optimizer", help="adamw, adamw-8bit, sgd, adafactor.")
_PRECISION = typer.Option(
    "mixed",
    "--precision",
    help="Full fine-tuning in 16 bits: mixed (fp32 master weights: DeepSpeed, FSDP), amp "
    "(fp32 model under autocast: HF Trainer), pure (all 16-bit).",
)
_GPUS = typer.Option(1, "--gpus", "-n", help="GPUs to shard over (per-GPU figures).")
_ATTENTION = typer.Option("flash", "--attention", help="flash (also SDPA) or eager.")
_GPU = typer.Option(
    None, "--gpu", help='Plan for this GPU instead of this machine\'s (e.g. "RTX 4090").'
)
_VRAM = typer.Option(
    None, "--vram", help="Plan for a GPU with this much memory, in GiB as nvidia-smi shows it."
)
_MAX_CONTEXT = typer.Option(
    False, "--max-context", help="Solve for the longest context (largest image) that fits."
)
_MAX_BATCH = typer.Option(False, "--max-batch", help="Solve for the largest batch.")
_MEASURE = typer.Option(
    False,
    "--measure",
    help="Build the model with random weights (torch, transformers) and measure its peak.",
)
_LIST = typer.Option(False, "--list", help="List the model catalogue.")
_LIST_GPUS = typer.Option(False, "--list-gpus", help="List the GPU table (memory in GiB).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")


def fit(
    model: str | None = _MODEL,
    task: str = _TASK,
    dtype: str = _DTYPE,
    quant: str | None = _QUANT,
    double_quant: bool | None = _DOUBLE_QUANT,
    context: int | None = _CONTEXT,
    batch: int = _BATCH,
    kv_dtype: str | None = _KV_DTYPE,
    lora_rank: int = _LORA_RANK,
    lora_targets: str = _LORA_TARGETS,
    gradient_checkpointing: bool = _GC,
    optimizer: str = _OPTIMIZER,
    precision: str = _PRECISION,
    gpus: int = _GPUS,
    attention: str = _ATTENTION,
    gpu: str | None = _GPU,
    vram: float | None = _VRAM,
    max_context: bool = _MAX_CONTEXT,
    max_batch: bool = _MAX_BATCH,
    measure: bool = _MEASURE,
    list_models: bool = _LIST,
    list_gpus: bool = _LIST_GPUS,
    json_out: bool = _JSON,
) -> None:
    """Will MODEL fit for a task, with a breakdown, a verdict and what to change if not.

    Every figure is an estimate with its assumptions listed; --measure checks it. Exits 3
    when the model does not fit the first target, so scripts can gate on the answer.
    """
    from rigml.cli import _ui
    from rigml.fit.request import FitRequest
    from rigml.fit.service import FitOptions, run_fit

    if list_models:
        return _list_models(json_out)
    if list_gpus:
        return _list_gpus(json_out)
    request = FitRequest(
        task=task,  # type: ignore[arg-type]  # checked in FitRequest.resolved
        dtype=dtype, quant=quant, double_quant=double_quant, context=context, batch=batch,
        kv_dtype=kv_dtype, lora_rank=lora_rank, lora_targets=lora_targets,
        gradient_checkpointing=gradient_checkpointing, optimizer=optimizer, gpus=gpus,
        attention=attention, precision=precision,
    )  # fmt: skip
    options = FitOptions(gpu, vram, max_context, max_batch, measure)
    outcome = run_fit(model, request, options, on_measure=None if json_out else _announce)
    if json_out:
        _ui.write_json(outcome.to_dict())
    else:
        _render(outcome)
    if not outcome.fits:
        raise typer.Exit(3)


def _announce() -> None:
    from rigml.cli import _ui

    _ui.write("[dim]measuring: building the model with random weights…[/]")


# ---------------------------------------------------------------------------- rendering


def _render(outcome: FitOutcome) -> None:
    report = outcome.report
    _render_model(report.model)
    _render_workload(report.model, report.request)
    _render_memory(report)
    _render_targets(report)
    _render_changes(report)
    _render_solvers(report)
    _render_speed(report)
    if outcome.measured is not None:
        _render_measured(outcome.measured)
    _render_notes(report)


def _architecture(m: ModelSpec) -> list[str]:
    """The sizes memory depends on, in the terms of the model's family."""
    if m.kind == "diffusion":
        parts = sorted(m.components.items(), key=lambda kv: -kv[1])
        return [f"{m.params / 1e9:.3g}B parameters"] + [
            f"{name} {count / 1e9:.3g}B" for name, count in parts
        ]
    arch = [f"{m.params / 1e9:.3g}B parameters"]
    if m.is_moe:
        arch.append(
            f"{m.active_params / 1e9:.3g}B active ({m.active_experts} of {m.experts} experts)"
        )
    if m.layers:
        arch.append(f"{m.layers} layers, hidden {m.hidden}")
    if m.heads and m.kind == "encoder":
        arch.append(f"{m.heads} heads x {m.head_dim}")
    elif m.heads:
        arch.append(f"{m.heads} heads / {m.kv_heads} KV heads x {m.head_dim}")
    if m.vocab:
        arch.append(f"vocab {m.vocab:,}")
    if m.kind == "encoder" and m.encoder_tokens:
        arch.append(f"input {m.encoder_tokens:,} patch tokens")
    elif m.kind == "encoder" and m.max_context:
        arch.append(f"max input {m.max_context:,} tokens")
    elif m.max_context:
        arch.append(f"max context {m.max_context:,}")
    if m.window:
        arch.append(f"window {m.window:,} on {m.windowed_layers} layers")
    return arch


def _render_model(m: ModelSpec) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(f"[bold]{escape(m.name)}[/] ({m.kind}): " + escape(", ".join(_architecture(m))))


def _workload(m: ModelSpec, req: FitRequest) -> list[str]:
    """The request as planned, in the model's terms: images for diffusion, no KV cache for
    models that do not generate."""
    fmt = req.weight_format()
    stored = m.stored_format if m.prequantised and req.quant is None else None
    how = [f"task {req.task}", f"weights {stored or fmt.name}"]
    if m.kind == "diffusion":
        how += [f"resolution {req.context}x{req.context} px", f"batch {req.batch} image(s)"]
    else:
        how += [f"context {req.context:,}", f"batch {req.batch}"]
    if req.task == "infer" and m.kind not in ("encoder", "diffusion"):
        how.append(f"KV cache {req.kv_dtype or ('fp16' if req.dtype != 'fp32' else 'fp32')}")
    elif req.training:
        how += [
            f"optimizer {req.optimizer}",
            "gradient checkpointing" if req.gradient_checkpointing else "no checkpointing",
        ]
        if req.task in ("lora", "qlora"):
            how.append(f"LoRA r={req.lora_rank} on {req.lora_targets}")
    if req.gpus > 1:
        how.append(f"{req.gpus} GPUs")
    return how


def _render_workload(m: ModelSpec, req: FitRequest) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(escape(", ".join(_workload(m, req))) + "\n")


def _render_memory(report: FitReport) -> None:
    from rigml.cli import _ui
    from rigml.fit.memory import PART_LABELS

    est = report.estimate
    total = est.total
    rows: list[list[object]] = [
        [PART_LABELS[k], _gib(v), f"{v / total:.0%}"] for k, v in est.parts.items() if v > 0
    ]
    rows.append(
        [
            _ui.Styled("[bold]total per GPU (estimate)[/]"),
            _ui.Styled(f"[bold]{_gib(total)}[/]"),
            "100%",
        ]
    )
    _ui.table(["GPU memory", "size", "share"], rows, title="estimated memory")
    extra = [["system RAM to load", _gib(est.ram_bytes)], ["download", _gib(est.download_bytes)]]
    if est.checkpoint_bytes:
        extra.append(["each training checkpoint", _gib(est.checkpoint_bytes)])
    if est.trainable_params:
        extra.append(["trainable parameters", f"{est.trainable_params / 1e6:,.1f}M"])
    _ui.table(["", "size"], extra)


def _render_targets(report: FitReport) -> None:
    from rigml.cli import _ui

    rows = []
    for r in report.results:
        v = r.verdict
        used = (
            f" ({_gib(r.target.used_bytes)} in use now)"
            if r.target.used_bytes and r.target.kind == "gpu"
            else ""
        )
        rows.append(
            [
                r.target.name + used,
                _gib(v.capacity_bytes),
                _gib(v.need_bytes),
                _gib(v.headroom_bytes),
                verdict(v.status, v.label),
            ]
        )
    _ui.table(["target", "memory", "needs", "headroom", "verdict"], rows)


def _mitigation_row(x: Mitigation) -> list[object]:
    return [
        f"{x.action} ({x.flags})",
        _gib(x.total_bytes),
        verdict(x.status, x.status if x.status != "comfortable" else "fits"),
        x.cost,
    ]


def _render_changes(report: FitReport) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    if report.mitigations:
        _ui.table(
            ["change", "new total", "verdict", "cost"],
            [_mitigation_row(x) for x in report.mitigations],
            title="what to change (cheapest first)",
        )
    if report.combined:
        c = report.combined
        _ui.write(f"together: [bold]{escape(c.action)}[/] → {_gib(c.total_bytes)} ({c.flags})")
    if report.offload:
        _ui.write(f"CPU offload: {escape(report.offload.cost)}")
    if report.cloud:
        n = report.cloud_gpus_needed
        _ui.write(
            f"smallest common cloud GPU that fits as asked: [bold]"
            f"{(str(n) + ' x ') if n > 1 else ''}{escape(report.cloud.name)}[/] "
            f"({_gib(report.cloud.vram_bytes, digits=1)})"
        )
    else:
        _ui.write("no common cloud GPU (up to 16 of the largest) fits this as asked")


def _render_solvers(report: FitReport) -> None:
    from rich.markup import escape

    from rigml.cli import _ui
    from rigml.fit.planner import MAX_BATCH

    where = escape(report.primary.target.name)
    ctx, m = report.max_context, report.model
    if ctx == 0:
        what = "image size" if m.kind == "diffusion" else "context length"
        _ui.write(f"no {what} fits {where} as asked")
    elif ctx is not None and m.kind == "diffusion":
        _ui.write(f"largest image that fits {where}: [bold]{ctx}x{ctx}[/] px")
    elif ctx is not None:
        cap = " (the model's maximum)" if ctx == m.max_context else ""
        _ui.write(f"longest context that fits {where}: [bold]{ctx:,}[/] tokens{cap}")
    if report.max_batch == 0:
        _ui.write(f"not even a batch of 1 fits {where} as asked")
    elif report.max_batch is not None:
        cap = " (the solver's limit)" if report.max_batch == MAX_BATCH else ""
        _ui.write(f"largest batch that fits {where}: [bold]{report.max_batch:,}[/]{cap}")


def _render_speed(report: FitReport) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    tp = report.primary.throughput
    if tp is None:
        return
    speeds = []
    if tp.decode_tokens_s:
        speeds.append(f"decode ~{tp.decode_tokens_s:,.0f} tokens/s")
    if tp.prefill_tokens_s:
        step = "forward" if report.model.kind == "encoder" else "prefill"
        speeds.append(f"{step} ~{tp.prefill_tokens_s:,.0f} tokens/s")
    if tp.train_tokens_s:
        speeds.append(f"training ~{tp.train_tokens_s:,.0f} tokens/s")
    if speeds:
        _ui.write(
            f"throughput estimate on {escape(report.primary.target.name)}: "
            + ", ".join(speeds)
            + f" [dim]({escape('; '.join(tp.assumptions))})[/]"
        )


def _render_measured(measured: Measurement) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(
        f"\n[bold]measured[/] on {escape(measured.device)}: {_gib(measured.peak_bytes)} "
        f"({escape(measured.method)}) against {_gib(measured.estimated_bytes)} estimated "
        f"for the tensors: {measured.error:+.1%}, in {measured.seconds:.1f} s"
    )


def _render_notes(report: FitReport) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    for w in report.warnings:
        _ui.write(f"[yellow]warning:[/] {escape(w)}")
    _ui.write("[dim]assumptions: " + escape("; ".join(report.estimate.assumptions)) + "[/]")


# ---------------------------------------------------------------------------- lists


def _list_models(json_out: bool) -> None:
    from rigml.cli import _ui
    from rigml.fit import catalogue

    data = catalogue.models_data()
    if json_out:
        _ui.write_json(data["models"])
        return
    _ui.table(
        ["name", "family", "params", "aliases"],
        [
            [
                m.name,
                m.family,
                f"{m.params_b:g}B"
                + (f" ({m.active_params_b:g}B active)" if m.active_params_b else ""),
                ", ".join(m.aliases[:2]),
            ]
            for m in catalogue.models().values()
        ],
        title=f"model catalogue ({len(catalogue.models())} models, updated {data['updated']})",
    )


def _list_gpus(json_out: bool) -> None:
    from rigml.cli import _ui
    from rigml.fit import catalogue

    gpus = sorted(catalogue.gpus().values(), key=lambda g: (g.vram_bytes, g.name))
    if json_out:
        _ui.write_json([g.to_dict() for g in gpus])
        return
    _ui.table(
        ["GPU", "memory", "bandwidth", "bf16 dense", "segment", "cloud"],
        [
            [
                g.name,
                _gib(g.vram_bytes, digits=1),
                f"{g.bandwidth_gbs:,.0f} GB/s" if g.bandwidth_gbs else None,
                f"{g.bf16_tflops:,.0f} TFLOPS" if g.bf16_tflops else None,
                g.segment,
                g.cloud,
            ]
            for g in gpus
        ],
        title="GPU table (memory in GiB, as nvidia-smi reports it)",
    )
