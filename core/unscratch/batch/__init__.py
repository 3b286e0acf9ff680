"""`unscratch batch IN_DIR OUT_DIR`: restore a whole archive, resumably, in one process or on Dask.

The user's reference (OUT_DIR's layout, the manifest and resume rules, --fill-region, Dask) is
docs/batch.md. Modules, each importing only those before it: `manifest` (OUT_DIR's own files: the
SQLite manifest, the lock, output fingerprints, stale outputs and temporaries), `jobs` (settings,
discovery, which files a rerun skips), `sheets` (contact sheets), `runners` (`process_file` and
where it runs: here or on Dask), `run` (`run_batch`: one run from start to summary). One large image
split across a cluster is `unscratch.split`.
"""
from ..split import split_restore
from .jobs import (
    FORMATS,
    JPEG_QUALITY,
    Config,
    Job,
    Settings,
    discover,
    find_region,
    output_paths,
    plan,
)
from .manifest import (
    DASK_DIR,
    LOCK_NAME,
    MANIFEST_NAME,
    Manifest,
    output_intact,
    params_key,
    remove_temporaries,
)
from .run import Summary, main, print_summary, run_batch
from .runners import process_file
from .sheets import thumbnail_pair, write_contact_sheets

__all__ = ["Config", "DASK_DIR", "FORMATS", "JPEG_QUALITY", "Job", "LOCK_NAME", "MANIFEST_NAME",
           "Manifest", "Settings", "Summary", "discover", "find_region", "main", "output_intact",
           "output_paths", "params_key", "plan", "print_summary", "process_file",
           "remove_temporaries", "run_batch", "split_restore", "thumbnail_pair",
           "write_contact_sheets"]
