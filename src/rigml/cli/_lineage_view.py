"""The text of ``rig models lineage``: upstream, the gates, the moves, downstream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.registry import Lineage


def render(lin: Lineage) -> None:
    from rigml.cli import _ui

    v = lin.version
    lines = [f"{v.ref}  {v.flavor}  aliases: {', '.join(v.aliases) or '-'}"]
    lines += _run_lines(lin.run)
    if lin.upstream:
        stages = ", ".join(f"{u.get('name') or 'deleted'} ({u['id'][:8]})" for u in lin.upstream)
        lines.append(f"  upstream     {stages}")
    lines += _data_lines(lin.datasets)
    lines += _context_lines(lin.environment, lin.machine)
    lines += [f"  gates        {_gate_text(g)}" for g in lin.gates] or ["  gates        none"]
    lines += [f"  moved        {_move_text(m)}" for m in lin.promotions] or ["  moved        never"]
    lines += [
        f"  approved     by {a['approver']} for {a['alias']} at {_ui.when(a['time'])}"
        for a in lin.approvals
    ]
    served = ", ".join(str(s.get("name")) for s in lin.served_by) or "no service"
    lines.append(f"  served by    {served}")
    _ui.write("\n".join(lines), markup=False)


def _run_lines(run: dict[str, Any] | None) -> list[str]:
    if run is None:
        return ["  run          none (registered without a run)"]
    commit = run.get("git_commit")
    code = "no git commit captured"
    if commit:
        code = f"{commit[:12]} on {run.get('git_branch') or '?'}"
        if run.get("git_dirty"):
            diff = run.get("git_diff") or {}
            code += f", dirty (diff: {diff.get('size', 0):,} B, artifact rig/git.diff)"
    return [
        f"  run          {run['name']} ({run['id'][:12]}, {run['status']}) by {run.get('user')}",
        f"  code         {code}",
        f"  command      {run.get('command') or '-'}",
    ]


def _data_lines(datasets: list[dict[str, Any]]) -> list[str]:
    if not datasets:
        return ["  data         none recorded (run.use_dataset or a stage's data deps)"]
    out = []
    for ds in datasets:
        c = ds.get("contract")
        verdict = "no contract check"
        if c is not None:
            verdict = f"contract {'passed' if c['passed'] else 'FAILED'} ({c['checks']} checks)"
        out.append(f"  data         {ds['ref']} ({ds['files']} files) · {verdict}")
    return out


def _context_lines(env: dict[str, Any] | None, machine: dict[str, Any] | None) -> list[str]:
    out = []
    if env and not env.get("missing"):
        fw = ", ".join(f"{k} {v}" for k, v in sorted(env["frameworks"].items()))
        out.append(f"  environment  python {env['python']}, {env['packages']} packages ({fw})")
    else:
        out.append("  environment  not captured")
    if machine and not machine.get("missing"):
        gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
        out.append(
            f"  machine      {machine.get('hostname')}: {machine.get('cpu')}, "
            f"{machine.get('cores')} cores, {gpus}"
        )
    else:
        out.append("  machine      not captured")
    return out


def _gate_text(g: dict[str, Any]) -> str:
    from rigml.cli import _ui

    verdict = "passed" if g["passed"] else "FAILED"
    against = f" against {g['reference']}" if g.get("reference") else ""
    return (
        f"#{g['id']} {verdict}{against} at {_ui.when(g['evaluated_at'])}: {'; '.join(g['rules'])}"
    )


def _move_text(m: dict[str, Any]) -> str:
    from rigml.cli import _ui

    src = f"v{m['from_version']}" if m["from_version"] is not None else "nobody"
    dst = f"v{m['to_version']}" if m["to_version"] is not None else "nobody"
    why = f": {m['reason']}" if m.get("reason") else ""
    return (
        f"{m['alias']} {src} -> {dst} ({m['action']} by {m['actor']}, {_ui.when(m['time'])}){why}"
    )
