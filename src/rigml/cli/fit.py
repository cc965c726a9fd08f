"""``rig fit``: will this model fit on this machine for this task, and what to change if not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.fit.measure import Measurement
    from rigml.fit.planner import FitReport, Mitigation

_VERDICT_STYLE = {"comfortable": "green", "tight": "yellow", "no": "bold red"}


def verdict(status: str, label: str) -> object:
    """A verdict coloured by how well it fits (shared with the quickstart)."""
    from rigml.cli import _ui

    return _ui.Styled(f"[{_VERDICT_STYLE[status]}]{label}[/]")


def _gib(n: int | float | None, *, digits: int = 2) -> str:
    """Every memory figure ``rig fit`` prints, in GiB as nvidia-smi and NVML count them."""
    from rigml._units import GIB

    return "-" if n is None else f"{n / GIB:,.{digits}f} GiB"


def fit(
    model: str | None = typer.Argument(
        None,
        help="Catalogue name or Hub id (see --list), a model folder, config.json, "
        ".safetensors or .gguf file.",
        show_default=False,
    ),
    task: str = typer.Option("infer", "--task", "-t", help="infer, lora, qlora or full."),
    dtype: str = typer.Option("bf16", "--dtype", help="Compute dtype: fp32, bf16, fp16."),
    quant: str | None = typer.Option(
        None,
        "--quant",
        "-q",
        help="Weight quantisation: int8, nf4, fp4, gptq-4bit, gptq-8bit, awq-4bit, fp8, or a "
        "GGUF type (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K...).",
    ),
    double_quant: bool | None = typer.Option(
        None, "--double-quant/--no-double-quant", help="bitsandbytes double quantisation."
    ),
    context: int | None = typer.Option(
        None, "--context", "-c", help="Tokens per sequence [default: 4096 infer, 2048 training]."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Sequences at once (micro-batch)."),
    kv_dtype: str | None = typer.Option(
        None, "--kv-dtype", help="KV cache: fp16, bf16, fp8, q8_0, q4_0 [default: fp16]."
    ),
    lora_rank: int = typer.Option(16, "--lora-rank", "-r", help="LoRA rank."),
    lora_targets: str = typer.Option(
        "all-linear",
        "--lora-targets",
        help="all-linear, attention, qv, mlp, or module names: q_proj,v_proj.",
    ),
    gradient_checkpointing: bool = typer.Option(
        False, "--gradient-checkpointing", "--gc", help="Recompute activations in backward."
    ),
    optimizer: str = typer.Option(
        "adamw", "--optimizer", help="adamw, adamw-8bit, sgd, adafactor."
    ),
    precision: str = typer.Option(
        "mixed",
        "--precision",
        help="Full fine-tuning in 16 bits: mixed (fp32 master weights: DeepSpeed, FSDP), amp "
        "(fp32 model under autocast: HF Trainer), pure (all 16-bit).",
    ),
    gpus: int = typer.Option(1, "--gpus", "-n", help="GPUs to shard over (per-GPU figures)."),
    attention: str = typer.Option("flash", "--attention", help="flash (also SDPA) or eager."),
    gpu: str | None = typer.Option(
        None, "--gpu", help='Plan for this GPU instead of this machine\'s (e.g. "RTX 4090").'
    ),
    vram: float | None = typer.Option(
        None, "--vram", help="Plan for a GPU with this much memory, in GiB as nvidia-smi shows it."
    ),
    max_context: bool = typer.Option(
        False, "--max-context", help="Solve for the longest context that fits."
    ),
    max_batch: bool = typer.Option(False, "--max-batch", help="Solve for the largest batch."),
    measure: bool = typer.Option(
        False,
        "--measure",
        help="Build the model with random weights (torch, transformers) and measure its peak.",
    ),
    list_models: bool = typer.Option(False, "--list", help="List the model catalogue."),
    list_gpus: bool = typer.Option(False, "--list-gpus", help="List the GPU table."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Will MODEL fit for a task, with a breakdown, a verdict and what to change if not.

    Every figure is an estimate with its assumptions listed; --measure checks it. Exits 3
    when the model does not fit the first target, so scripts can gate on the answer.
    """
    from rigml.cli import _ui
    from rigml.errors import InvalidInput

    if list_models:
        return _list_models(json_out)
    if list_gpus:
        return _list_gpus(json_out)
    if model is None:
        raise InvalidInput("name a model", hint="e.g. `rig fit llama-3.1-8b`; `rig fit --list`")
    from rigml.fit.planner import plan_fit
    from rigml.fit.request import FitRequest

    request = FitRequest(
        task=task,  # type: ignore[arg-type]  # checked in FitRequest.resolved
        dtype=dtype,
        quant=quant,
        double_quant=double_quant,
        context=context,
        batch=batch,
        kv_dtype=kv_dtype,
        lora_rank=lora_rank,
        lora_targets=lora_targets,
        gradient_checkpointing=gradient_checkpointing,
        optimizer=optimizer,
        gpus=gpus,
        attention=attention,
        precision=precision,
    )
    report = plan_fit(
        model, request, gpu=gpu, vram_gb=vram, max_context=max_context, max_batch=max_batch
    )
    measured = None
    if measure:
        from rigml.fit.measure import measure as run_measure

        if not json_out:
            _ui.write("[dim]measuring: building the model with random weights…[/]")
        measured = run_measure(report.model, report.model.config, report.request)
    if json_out:
        data = report.to_dict()
        if measured is not None:
            data["measured"] = measured.to_dict()
        _ui.write_json(data)
    else:
        _render(report, measured)
    if report.primary.verdict.status == "no":
        raise typer.Exit(3)


def _render(report: FitReport, measured: Measurement | None) -> None:
    from rich.markup import escape

    from rigml.cli import _ui
    from rigml.fit.memory import PART_LABELS
    from rigml.fit.planner import MAX_BATCH

    m, req, est = report.model, report.request, report.estimate
    arch = [f"{m.params / 1e9:.3g}B parameters"]
    if m.is_moe:
        arch.append(
            f"{m.active_params / 1e9:.3g}B active ({m.active_experts} of {m.experts} experts)"
        )
    if m.layers:
        arch.append(f"{m.layers} layers, hidden {m.hidden}")
    if m.heads:
        arch.append(f"{m.heads} heads / {m.kv_heads} KV heads x {m.head_dim}")
    if m.vocab:
        arch.append(f"vocab {m.vocab:,}")
    if m.max_context:
        arch.append(f"max context {m.max_context:,}")
    if m.window:
        arch.append(f"window {m.window:,} on {m.windowed_layers} layers")
    _ui.write(f"[bold]{escape(m.name)}[/] ({m.kind}): " + escape(", ".join(arch)))
    fmt = req.weight_format()
    stored = m.stored_format if m.prequantised and req.quant is None else None
    how = [
        f"task {req.task}",
        f"weights {stored or fmt.name}",
        f"context {req.context:,}",
        f"batch {req.batch}",
    ]
    if req.task == "infer":
        how.append(f"KV cache {req.kv_dtype or ('fp16' if req.dtype != 'fp32' else 'fp32')}")
    else:
        how += [
            f"optimizer {req.optimizer}",
            "gradient checkpointing" if req.gradient_checkpointing else "no checkpointing",
        ]
        if req.task in ("lora", "qlora"):
            how.append(f"LoRA r={req.lora_rank} on {req.lora_targets}")
    if req.gpus > 1:
        how.append(f"{req.gpus} GPUs")
    _ui.write(escape(", ".join(how)) + "\n")

    total = est.total
    rows = [[PART_LABELS[k], _gib(v), f"{v / total:.0%}"] for k, v in est.parts.items() if v > 0]
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

    verdict_rows = []
    for r in report.results:
        v = r.verdict
        used = (
            f" ({_gib(r.target.used_bytes)} in use now)"
            if r.target.used_bytes and r.target.kind == "gpu"
            else ""
        )
        verdict_rows.append(
            [
                r.target.name + used,
                _gib(v.capacity_bytes),
                _gib(v.need_bytes),
                _gib(v.headroom_bytes),
                verdict(v.status, v.label),
            ]
        )
    _ui.table(["target", "memory", "needs", "headroom", "verdict"], verdict_rows)

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
    elif report.cloud is None:
        _ui.write("no common cloud GPU (up to 16 of the largest) fits this as asked")
    where = escape(report.primary.target.name)
    if report.max_context == 0:
        _ui.write(f"no context length fits {where} as asked")
    elif report.max_context is not None:
        cap = " (the model's maximum)" if report.max_context == m.max_context else ""
        _ui.write(f"longest context that fits {where}: [bold]{report.max_context:,}[/] tokens{cap}")
    if report.max_batch == 0:
        _ui.write(f"not even a batch of 1 fits {where} as asked")
    elif report.max_batch is not None:
        cap = " (the solver's limit)" if report.max_batch == MAX_BATCH else ""
        _ui.write(f"largest batch that fits {where}: [bold]{report.max_batch:,}[/]{cap}")
    tp = report.primary.throughput
    if tp is not None:
        speeds = []
        if tp.decode_tokens_s:
            speeds.append(f"decode ~{tp.decode_tokens_s:,.0f} tokens/s")
        if tp.prefill_tokens_s:
            speeds.append(f"prefill ~{tp.prefill_tokens_s:,.0f} tokens/s")
        if tp.train_tokens_s:
            speeds.append(f"training ~{tp.train_tokens_s:,.0f} tokens/s")
        if speeds:
            _ui.write(
                f"throughput estimate on {escape(report.primary.target.name)}: "
                + ", ".join(speeds)
                + f" [dim]({escape('; '.join(tp.assumptions))})[/]"
            )
    if measured is not None:
        _ui.write(
            f"\n[bold]measured[/] on {escape(measured.device)}: {_gib(measured.peak_bytes)} "
            f"({escape(measured.method)}) against {_gib(measured.estimated_bytes)} estimated "
            f"for the tensors: {measured.error:+.1%}, in {measured.seconds:.1f} s"
        )
    for w in report.warnings:
        _ui.write(f"[yellow]warning:[/] {escape(w)}")
    _ui.write("[dim]assumptions: " + escape("; ".join(est.assumptions)) + "[/]")


def _mitigation_row(x: Mitigation) -> list[object]:
    return [
        f"{x.action} ({x.flags})",
        _gib(x.total_bytes),
        verdict(x.status, x.status if x.status != "comfortable" else "fits"),
        x.cost,
    ]


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
        title="GPU table",
    )
