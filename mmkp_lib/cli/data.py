"""`mmkp data fetch mmkp`: get the real MMKP text files (mmkp_lib.fetch) into a local, git-ignored folder.

    mmkp data fetch mmkp --out data/mmkp                              # from the authors' repository (network)
    mmkp data fetch mmkp --from ../shared/data/mmkp --out data/mmkp   # copy a local mirror instead
    mmkp data fetch mmkp --base-url http://127.0.0.1:8000/ --out data/mmkp   # any server holding the files

Each file is checked (size, and SHA-256 where known) before it gets its name; an interrupted download is
resumed by running the same command again. Images are not public and are not fetched.
"""
from __future__ import annotations

import argparse

from mmkp_lib.cli.args import fail, positive

DATASETS = ("mmkp",)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("data", help="fetch public datasets (the real MMKP text files)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="download (or copy from a local mirror) a dataset's files",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("dataset", choices=DATASETS, help="the dataset: mmkp (Wang et al., EMNLP 2020, tw_mm_s1)")
    f.add_argument("--out", required=True, metavar="DIR", help="folder to fetch into (e.g. data/mmkp)")
    f.add_argument("--from", dest="source", metavar="DIR",
                   help="copy from this local folder instead of downloading (e.g. ../shared/data/mmkp)")
    f.add_argument("--base-url", metavar="URL", help="where the files are served (default: the authors' "
                   "repository, mmkp_lib.fetch.MMKP_BASE_URL)")
    f.add_argument("--timeout", type=positive(float, "seconds"), metavar="S",
                   help="seconds to wait for a connection or the next bytes (default: mmkp_lib.fetch.TIMEOUT)")
    f.add_argument("--no-checksum", action="store_true", help="accept files whose SHA-256 differs from the "
                   "known one (if the authors changed their files)")
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    f.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from mmkp_lib import fetch

    if args.source and args.base_url:
        return fail("data fetch", "pass --from (a local copy) or --base-url (a server), not both")
    try:
        result = fetch.fetch_mmkp(args.out, source=args.source, base_url=args.base_url or fetch.MMKP_BASE_URL,
                                  verify=not args.no_checksum, timeout=args.timeout or fetch.TIMEOUT,
                                  progress=not args.no_progress)
    except (fetch.FetchError, OSError) as error:
        return fail("data fetch", error, 1)
    print(result.summary())
    return 0
