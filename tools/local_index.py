"""Serve a directory of distributions as a PEP 503 simple index on 127.0.0.1, for a bounded time.

    python tools/local_index.py DIST --url-file FILE [--lifetime SECONDS]

Lays out the index in a temporary directory (a page per project listing its files with their
sha256), serves it on a free port of 127.0.0.1, writes the index URL (``http://127.0.0.1:PORT/
simple/``) to FILE once it accepts connections, and stops after SECONDS (default 900) or on
SIGTERM/SIGINT, removing the temporary directory. ``make pypi-test`` runs it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import html
import os
import shutil
import signal
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename


def project_of(filename: str) -> str:
    """The normalized project name of a wheel or sdist file name; ValueError for anything else."""
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    if filename.endswith(".tar.gz"):
        return canonicalize_name(parse_sdist_filename(filename)[0])
    raise ValueError(f"{filename}: neither a wheel nor a .tar.gz sdist")


def write_page(path: Path, title: str, links: list[tuple[str, str]]) -> None:
    anchors = "\n".join(f'<a href="{html.escape(href)}">{html.escape(text)}</a><br>' for href, text in links)
    path.write_text(f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head><body>\n"
                    f"{anchors}\n</body></html>\n", encoding="utf-8")


def build_index(dist: Path, root: Path) -> dict[str, list[str]]:
    """Copy the distributions of ``dist`` under ``root/files`` and write ``root/simple``."""
    files = sorted(path for path in dist.iterdir() if path.name.endswith((".whl", ".tar.gz")))
    if not files:
        raise ValueError(f"{dist}: no wheel or sdist to serve")
    links: dict[str, list[tuple[str, str]]] = {}  # project -> (href with the hash, file name)
    (root / "files").mkdir()
    for path in files:
        shutil.copyfile(path, root / "files" / path.name)
        href = f"../../files/{path.name}#sha256={hashlib.sha256(path.read_bytes()).hexdigest()}"
        links.setdefault(project_of(path.name), []).append((href, path.name))
    simple = root / "simple"
    simple.mkdir()
    for project, project_links in links.items():
        (simple / project).mkdir()
        write_page(simple / project / "index.html", f"Links for {project}", project_links)
    write_page(simple / "index.html", "Simple index", [(f"{project}/", project) for project in links])
    return {project: [name for _, name in project_links] for project, project_links in links.items()}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base class's name)
        sys.stderr.write(f"local index: {format % args}\n")


def serve(dist: Path, url_file: Path, lifetime: float) -> None:
    with tempfile.TemporaryDirectory(prefix="clematis-index-") as tmp:
        root = Path(tmp)
        projects = build_index(dist, root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        stop = threading.Timer(lifetime, server.shutdown)
        stop.daemon = True
        stop.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
        partial = url_file.with_name(url_file.name + ".tmp")
        partial.write_text(url + "\n", encoding="utf-8")
        os.replace(partial, url_file)  # the socket already listens: the URL is usable once it exists
        print(f"local index: {url} serving {projects} for at most {lifetime:g} s",
              file=sys.stderr, flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            stop.cancel()
            server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="directory holding the wheels and sdists")
    parser.add_argument("--url-file", type=Path, required=True, help="where to write the index URL")
    parser.add_argument("--lifetime", type=float, default=900.0, help="seconds before it stops by itself")
    args = parser.parse_args(argv)
    if not args.dist.is_dir():
        parser.error(f"dist: {args.dist} is not a directory")
    if args.lifetime <= 0:
        parser.error(f"--lifetime must be positive, got {args.lifetime:g}")
    try:
        serve(args.dist, args.url_file, args.lifetime)
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
