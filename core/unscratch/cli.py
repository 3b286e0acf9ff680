"""The `unscratch` command. User errors exit 2 with one line on stderr, never a traceback."""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import warnings
from pathlib import Path

import numpy as np

from .errors import Cancelled, InputError, ModelError, Terminated, exit_status, interrupt_signal
from .progress import Bar


def _check_outputs(args, outputs: list[tuple[str, str]], reads: list[str]) -> None:
    """Every output path, before any work (a bad one found only at the end loses the run): a
    known extension, not a folder, in a folder that exists and can be written, not any file the
    command reads (input, --mask, --region, by inode), and no two outputs the same file. Then
    remove temporaries a killed run left for these outputs."""
    from . import io
    reads = [r for r in reads if r]
    tiffs = [path for _, path in outputs if Path(path).suffix.lower() in (".tif", ".tiff")]
    if args.compression is not None and not tiffs:
        raise InputError(f"--compression {args.compression}: applies to TIFF outputs, and none is "
                         "asked for")
    for k, (option, path) in enumerate(outputs):
        io.check_output(path, reads=reads, compression=args.compression, name=option)
        for other_option, other in outputs[:k]:
            if io.same_file(Path(path), Path(other)):
                raise InputError(f"{option} {path}: is the same file as {other_option}; "
                                 "choose two different outputs")
    for _, path in outputs:
        io.remove_stale_temporaries(Path(path))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (what a write loses, see io.LossWarning) as one line each, without a source
    location."""
    print(f"unscratch: warning: {message}", file=sys.stderr)


def _detect_method(method: str, info, path: str, option: str) -> str:
    """The detector for this file (api.detect_method_for), said on stderr when it is the infrared
    plane."""
    from .api import detect_method_for
    chosen = detect_method_for(method, info.infrared)
    if chosen != method:
        print(f"{path}: using its infrared plane to find defects ({option} model to ignore it)",
              file=sys.stderr)
    return chosen


def cmd_detect(args) -> int:
    from . import detect, io
    outputs = [("-o", args.output)]
    if args.probability:
        outputs.append(("--probability", args.probability))
    _check_outputs(args, outputs, [args.input, args.region])
    image, info = io.read_with_info(args.input)
    region = _read_plane(args.region, image, info, "region")
    method = _detect_method(args.method, info, args.input, "--method")
    bar = Bar("detect", args.quiet)
    try:
        det = detect(image, region=region, threshold=args.threshold, progress=bar, method=method,
                     keep_probability=bool(args.probability))
    finally:
        bar.close()
    same = {"info": info, "source": args.input, "compression": args.compression}
    # both outputs or neither: an error, Ctrl-C or SIGTERM before the end leaves none of them
    with io.Outputs() as outputs:
        io.write(args.output, det.mask.astype(np.uint8) * 255, outputs=outputs, **same)
        if args.probability:
            io.write(args.probability, det.probability, outputs=outputs, **same)
    print(f"{args.output}: {int(det.mask.sum())} defect pixels ({100 * det.mask.mean():.3f} %) at "
          f"threshold {det.threshold:.3f}")
    return 0


def cmd_restore(args) -> int:
    from . import io
    from .api import restore_and_report
    _check_outputs(args, [("-o", args.output)], [args.input, args.mask, args.region])
    image, info = io.read_with_info(args.input)
    region = _read_plane(args.region, image, info, "region")
    mask = _read_plane(args.mask, image, info, "mask")
    if args.fill and region is None:
        raise InputError("--fill needs --region SEL (the selection to heal)")
    detect_method = args.detect_method
    if mask is None and not args.fill:
        detect_method = _detect_method(detect_method, info, args.input, "--detect-method")
    bar = Bar("restore", args.quiet)
    try:
        done = restore_and_report(image, mask, region=region,
                                  mode="fill" if args.fill else "defects", progress=bar,
                                  threshold=args.threshold, method=args.method,
                                  detect_method=detect_method, grain=args.grain,
                                  overwrite=True)  # our own read: repaired in place, no copy
    finally:
        bar.close()
    out, changed = done.image, done.repaired_pixels
    del image
    done.image = None
    io.write(args.output, out, info=info, source=args.input, compression=args.compression)
    print(f"{args.output}: {changed} pixels repaired "
          f"({100 * changed / (out.shape[0] * out.shape[1]):.3f} %)")
    if not args.quiet:  # which pixels, by which rule, and what to do when none were
        from .hostkit import summary as say
        facts = dict(done.rule.as_dict(), repaired_pixels=changed)
        summary = say("fill" if args.fill else "restore", facts, None,
                      source=f"--mask {args.mask}" if mask is not None else None,
                      fill_hint="--fill --region SEL", whole="the whole image")
        print(f"{args.input}: {summary}", file=sys.stderr)
    return 0


def _read_plane(path, image, info, what: str):
    """A --mask or --region file as a plane of the image's size (None when not given)."""
    if not path:
        return None
    from . import io
    return io.read_plane(path, image.shape[:2], what, orientation=info.orientation)


def cmd_demo(args) -> int:
    from .demo import run_demo
    paths = run_demo(Path(args.output), quiet=args.quiet)
    width = max(map(len, paths))
    for name, path in paths.items():
        print(f"{name:>{width}}: {path}")
    return 0


def cmd_info(args) -> int:
    import cv2
    import onnxruntime

    from . import __version__, models
    print(f"unscratch {__version__} (python {sys.version.split()[0]})")
    print(f"numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"opencv {cv2.__version__}")
    try:
        import jpeglib
        print(f"jpeglib {jpeglib.__version__}: a JPEG restored into a JPEG re-encodes only the "
              "repaired blocks")
    except ImportError:
        print("jpeglib missing: a JPEG restored into a JPEG is encoded whole")
    print(f"onnxruntime providers: {', '.join(onnxruntime.get_available_providers())} (using "
          f"{', '.join(models.providers())})")
    print(f"models in {models.models_dir()}:")
    cards, skipped = models.scan_cards()
    usable = True
    for card in cards:
        try:
            models.verify(card)
            status = "ok"
        except ModelError as exc:
            status, usable = f"BAD: {exc}", False
        print(f"  {card.name:24s} {card.task:8s} sha256 {card.sha256[:16]}…  {status}")
    for path, reason in skipped:
        print(f"  skipped {path.name}: {reason}")
    for task in ("detect", "restore"):
        missing = models.missing_model(task)
        if missing:
            print(f"  {missing.split(';')[0]}")  # what is missing; the advice once, below
            usable = False
    if not usable:  # detect and restore would refuse to run: say so in the exit status too
        print("unscratch: error: the models are not usable (see above); detect, restore and batch "
              "refuse to run without them unless asked for --method classical", file=sys.stderr)
        return 2
    return 0


def cmd_install(args) -> int:
    from . import install
    path = install.install(args.host, args.dir)
    print(f"installed the {args.host} plug-in in {path}")
    return 0


def cmd_uninstall(args) -> int:
    from . import install
    path = install.uninstall(args.host, args.dir)
    print(f"removed the {args.host} plug-in from {path}" if path
          else f"no {args.host} plug-in was installed")
    return 0


def cmd_eval(args) -> int:
    try:
        from .train.eval.cli import main as evaluate
    except ImportError as exc:
        raise InputError("evaluation needs the train extra (pip install 'unscratch[train]'): "
                         f"{exc}") from None
    return evaluate([args.what] + args.rest)


def cmd_batch(args) -> int:
    from . import batch
    return batch.main(args)


def _compression_option(parser) -> None:
    from .io import DEFAULT_COMPRESSION, TIFF_COMPRESSIONS
    parser.add_argument("--compression", choices=tuple(TIFF_COMPRESSIONS), default=None,
                        help="lossless compression of TIFF outputs (default "
                             f"{DEFAULT_COMPRESSION})")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .api import DETECT_METHODS, METHODS
    p = argparse.ArgumentParser(prog="unscratch",
                                description="Find and repair scratches, dust and hairs on scans.")
    p.add_argument("--version", action="version", version=f"unscratch {__version__}")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime threads (default: all cores)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("detect", help="write a defect mask")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True, help="mask image (white = defect)")
    d.add_argument("--probability", help="also write the probability map (TIFF keeps float)")
    d.add_argument("--threshold", type=float)
    d.add_argument("--region", help="selection image: only look inside its nonzero pixels")
    d.add_argument("--method", choices=DETECT_METHODS, default="auto",
                   help="auto: the model, or a scan's infrared plane when it has one (RGBI TIFF); "
                        "infrared: that plane")
    _compression_option(d)
    d.add_argument("-q", "--quiet", action="store_true")
    d.set_defaults(func=cmd_detect)

    r = sub.add_parser("restore", help="repair defects, or heal a selection with --fill")
    r.add_argument("input")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--mask", help="defect mask (default: detect first)")
    r.add_argument("--region",
                   help="selection image: change only pixels inside it (soft selections blend)")
    r.add_argument("--fill", action="store_true", help="treat the whole region as the hole")
    r.add_argument("--threshold", type=float,
                   help="sensitivity: the detection threshold when no --mask is given (default: "
                        "the detector's). Every defect at or above it is repaired, grown as the "
                        "detector's card says: inside --region, or on the whole image without "
                        "one; a --mask is repaired as given")
    r.add_argument("--method", choices=METHODS, default="auto", help="the restorer")
    r.add_argument("--detect-method", choices=DETECT_METHODS, default="auto",
                   help="the detector when no --mask is given (as detect --method)")
    r.add_argument("--no-grain", dest="grain", action="store_false",
                   help="leave fills smooth instead of matching the film grain around them")
    _compression_option(r)
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(func=cmd_restore)

    m = sub.add_parser("demo",
                       help="damage the bundled photo, detect and restore it, write the results")
    m.add_argument("-o", "--output", default="demo-out")
    m.add_argument("-q", "--quiet", action="store_true")
    m.set_defaults(func=cmd_demo)

    # batch: the logic is in the batch package, its documentation in docs/batch.md
    b = sub.add_parser("batch",
                       help="restore every scan under a folder into a mirrored tree, resumably, in "
                            "one process or on Dask (see `unscratch batch -h`)")
    b.add_argument("in_dir", metavar="IN_DIR", help="folder of scans (never written to)")
    b.add_argument("out_dir", metavar="OUT_DIR",
                   help="output tree mirroring IN_DIR; holds the manifest")
    b.add_argument("--glob", default="**/*", metavar="PATTERN",
                   help="files to take, relative to IN_DIR (default **/*: all, recursively; "
                        "case-sensitive)")
    b.add_argument("--workers", type=int, default=1, metavar="N",
                   help="1 (default): in this process; N>1: a local Dask cluster of N worker "
                        "processes")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="use an existing Dask cluster (tcp://host:8786)")
    b.add_argument("--masks", action="store_true", help="also write OUT_DIR/_masks/<file>.png")
    b.add_argument("--probability", action="store_true",
                   help="also write OUT_DIR/_probability/<file>.tif (float)")
    b.add_argument("--contact-sheet", action="store_true",
                   help="also write before/after pages to OUT_DIR/_contact-sheet/")
    b.add_argument("--fill-region", metavar="PATH",
                   help="selection image for every file, or a folder of selections mirroring "
                        "IN_DIR: those files are healed inside it (like restore --fill)")
    b.add_argument("--threshold", type=float, help="detection threshold (default: the detector's)")
    b.add_argument("--method", choices=METHODS, default="auto")
    b.add_argument("--format", choices=("same", "png", "tiff"), default="same",
                   help="output format: as the input (default), png, or tiff (lossless for every "
                        "input)")
    _compression_option(b)
    b.add_argument("--split-mp", type=float, default=64.0, metavar="MP",
                   help="on a cluster, split images of MP megapixels or more across the workers "
                        "(0: never)")
    b.add_argument("--force", action="store_true", help="reprocess files already done")
    b.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar; summary only when files failed")
    b.set_defaults(func=cmd_batch)

    i = sub.add_parser("info", help="versions, models and their checksums, onnxruntime providers")
    i.set_defaults(func=cmd_info)

    e = sub.add_parser("eval",
                       help="held-out metrics: `eval detect`, `eval restore`, or `eval real DIR "
                            "[-o OUT]` (contact sheets of real photos); needs the train extra")
    e.add_argument("what", choices=("detect", "restore", "real"))
    e.add_argument("rest", nargs=argparse.REMAINDER,
                   help="--quick --per-photo N --size PX --seed S --json FILE")
    e.set_defaults(func=cmd_eval)

    for name, func in (("install", cmd_install), ("uninstall", cmd_uninstall)):
        s = sub.add_parser(name, help=f"{name} a host plug-in (gimp or krita)")
        s.add_argument("host", choices=("gimp", "krita"))
        s.add_argument("--dir",
                       help="gimp: use DIR as GIMP3_DIRECTORY; krita: DIR is the pykrita folder")
        s.set_defaults(func=func)
    return p


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (kill, a closing terminal, a job scheduler) interrupts like Ctrl-C, so a write in
    progress removes its temporary instead of leaving it for the next run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    """The one error line, on a line of its own even when a progress bar was drawn last."""
    from .progress import end_line
    end_line()
    print(f"unscratch: error: {message}", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(), _sigterm_interrupts():
            warnings.showwarning = _show_warning
            if args.threads:
                from .models import configure
                configure(threads=args.threads)
            return args.func(args)
    except (InputError, ModelError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        # a file system refusal the checks could not foresee (raced, quota, disk full)
        from .io import why_not_written
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{why_not_written(exc)}")
        return 2
    except Cancelled:
        print("unscratch: cancelled", file=sys.stderr)
        return exit_status(signal.SIGINT)
    except KeyboardInterrupt as exc:
        written = getattr(exc, "written", None)  # the outputs were in place when it came
        said = (f"after writing {', '.join(map(str, written))}" if written
                else "no output was written")
        print(f"unscratch: interrupted; {said}", file=sys.stderr)
        return exit_status(interrupt_signal(exc))


if __name__ == "__main__":
    sys.exit(main())
