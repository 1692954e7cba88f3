"""`audiorag doctor`: what this machine has, measured; one actionable line per problem, non-zero exit if any."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quick", action="store_true", help="skip the matmul comparison without OpenBLAS")


def run(args: argparse.Namespace) -> int:
    from rag.doctor import collect

    report, problems, warnings = collect(quick=args.quick)
    report["problems"] = problems
    report["warnings"] = warnings
    if args.json:
        from rag.cli import print_json

        print_json(report)
    else:
        from rich.console import Console

        c = Console(soft_wrap=True)  # piped: whole lines, never wrapped at 80 columns
        c.print("[bold]audiorag doctor[/]")
        for key, value in report.items():
            if key in ("problems", "warnings", "versions", "models", "packs", "privacy", "servers"):
                continue
            c.print(f"  {key:32} {value}")
        c.print("  versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v))
        for role, entry in report["models"].items():
            c.print(f"  {role:6} {entry}")
        c.print("  packs: " + ", ".join(f"{k} ({v})" for k, v in report["packs"].items()))
        c.print("  privacy: " + "; ".join(f"{k}: {v}" for k, v in report["privacy"].items()))
        for srv in report["servers"]:
            state = f"{srv['latency_ms']} ms" if srv.get("reachable") else f"unreachable ({srv.get('error')})"
            c.print(f"  server {srv['purpose']}: {srv['url']} {state}")
        for w in warnings:
            c.print(f"[yellow]warning:[/] {w}")
        for p in problems:
            c.print(f"[red]problem:[/] {p}")
        if not problems:
            c.print("[green]all good[/]")
    return 1 if problems else 0
