"""What the dock widgets share: a magicgui Container with Run, Cancel, a progress bar and a status
line around a napari `thread_worker` (JobWidget), and the small helpers their jobs use (provenance,
layer choices, the detector's threshold in use).

Pressing Run checks the chosen layers on the main thread, snapshots what the work needs (array
references, region/mask planes), and runs the computation in a worker thread; the progress bar
follows the core's progress callback and Cancel sets the core's cancel event. Results are turned
into layers back on the main thread. Problems with the input become a napari error notification,
never a traceback.
"""
from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime, timezone

from magicgui.widgets import CheckBox, Container, Label, ProgressBar, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QObject, Signal, Slot

import unscratch
import unscratch.api
from unscratch import Cancelled, InputError, ModelError

from ._layers import unwrap


# --- helpers -----------------------------------------------------------------------------------
class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""
    progress = Signal(float)

    def __init__(self, callback, parent=None):
        super().__init__(parent)
        self._callback = callback
        self.progress.connect(self._deliver)

    @Slot(float)
    def _deliver(self, value: float) -> None:
        self._callback(value)


def _guarded(compute, job, progress, cancel):
    """Worker body: expected outcomes come back as values, so napari never shows them as
    tracebacks."""
    try:
        return "ok", compute(job, progress, cancel)
    except Cancelled:
        return "cancelled", None
    except (InputError, ModelError) as exc:
        return "error", str(exc)


def provenance(**fields) -> dict:
    return {"unscratch": {"version": unscratch.__version__,
                          "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          **fields}}


def index_list(indices) -> list | None:
    """Processed slices as lists (JSON-friendly); None for a single 2-D image."""
    indices = list(indices)
    if indices == [()]:
        return None
    return [list(i) for i in indices]


def default_threshold() -> tuple[float, str]:
    """(the detector's own threshold (its card's), where the sliders start; ""), or, when the
    model or its card cannot be loaded, (0.5, the error in words) for the status line: no other
    detector's threshold stands in for it."""
    try:
        return unscratch.api.settings().threshold, ""
    except Exception as exc:  # the run reports it again, with its fix
        return 0.5, f"The detector cannot be loaded: {exc}"


def output_kind(layer) -> str | None:
    meta = getattr(layer, "metadata", None) or {}
    info = meta.get("unscratch") if isinstance(meta, dict) else None
    return info.get("output") if isinstance(info, dict) else None


def layer_kwargs(image) -> dict:
    return {"scale": tuple(image.scale), "translate": tuple(image.translate)}


# --- common machinery --------------------------------------------------------------------------
class JobWidget(Container):
    """Run button, Cancel button, progress bar and status line around a threaded job."""
    title = ""
    run_text = "Run"
    cancellable = True

    def __init__(self, napari_viewer, controls, extra_buttons=()):
        self._viewer_ref = weakref.ref(unwrap(napari_viewer))
        run = PushButton(text=self.run_text, name="run_button")
        cancel = PushButton(text="Cancel", name="cancel_button", enabled=False,
                            visible=self.cancellable)
        buttons = Container(widgets=[run, cancel, *extra_buttons], layout="horizontal",
                            labels=False, name="buttons")
        bar = ProgressBar(value=0, min=0, max=1000, name="progress")
        status = Label(value="", name="status")
        form = Container(widgets=controls, labels=True, name="form")
        super().__init__(widgets=[form, buttons, bar, status], labels=False)
        for control in controls:  # widget.image, widget.threshold, … as in a magicgui FunctionGui
            object.__setattr__(self, control.name, control)
        status.native.setWordWrap(True)
        self.worker = None
        self.elapsed = 0.0  # seconds the last job took, from Run to its result
        self._started = 0.0
        self.outputs: dict = {}
        self._job = None
        self._cancel_event: threading.Event | None = None
        self._relay = _Relay(self._on_progress, parent=self.native)
        run.changed.connect(lambda *_: self.run())
        cancel.changed.connect(lambda *_: self.cancel())
        events = self.viewer.layers.events
        events.inserted.connect(self._on_layers_changed)
        events.removed.connect(self._on_layers_changed)
        events.moved.connect(self._on_layers_changed)
        self.reset_choices()
        for layer in list(self.viewer.layers):  # pre-select outputs already there (newest wins)
            self._on_inserted(unwrap(layer))

    # the viewer is held weakly: a dock widget must not keep a closed viewer alive
    @property
    def viewer(self):
        return self._viewer_ref()

    _quiet = False   # set while a slider is moved by code

    def _set_quietly(self, slider, value: float) -> None:
        """Move `slider` to `value` without its handler acting on it (a value shown, not asked)."""
        self._quiet = True
        try:
            slider.value = value
        finally:
            self._quiet = False

    def _on_layers_changed(self, event=None):
        self.reset_choices()
        if event is not None and getattr(event, "type", "") == "inserted":
            self._on_inserted(unwrap(event.value))

    def _on_inserted(self, layer) -> None:
        """Hook: a layer was added (used to pre-select fresh outputs)."""

    def _layers(self, kind):
        viewer = self.viewer
        if viewer is None:
            return []
        return [unwrap(x) for x in viewer.layers if isinstance(x, kind)]

    # --- running -------------------------------------------------------------------------------
    def run(self):
        """Start the job in a worker thread; returns the worker, or None when the input is
        unusable."""
        if self.worker is not None:
            show_warning(f"{self.title}: already running; wait for it or press Cancel")
            return None
        try:
            job = self._prepare()
        except InputError as exc:
            self._report_error(str(exc))
            return None
        cancel = threading.Event()
        relay = self._relay
        last = [-1]

        def progress(fraction: float) -> None:
            step = int(round(min(max(fraction, 0.0), 1.0) * 1000))
            if step != last[0]:
                last[0] = step
                try:
                    relay.progress.emit(step / 1000)
                except RuntimeError:  # widget closed while working
                    cancel.set()

        worker = create_worker(_guarded, self._compute, job, progress, cancel, _start_thread=False,
                               _connect={"returned": self._on_returned, "errored": self._on_errored,
                                         "finished": self._on_finished})
        self.worker, self._job, self._cancel_event = worker, job, cancel
        # widget closed (e.g. viewer closed): stop the work
        self.native.destroyed.connect(cancel.set)
        self._started = time.monotonic()
        self._set_running(True)
        self.progress.value = 0
        self.status.value = "working…"
        worker.start()
        return worker

    def cancel(self) -> None:
        if self._cancel_event is not None:
            self._cancel_event.set()
            self.status.value = "cancelling…"

    def wait(self, timeout: float = 300.0) -> None:
        """Process Qt events until the running job has finished (for scripts and tests)."""
        from qtpy.QtWidgets import QApplication

        deadline = time.monotonic() + timeout
        while self.worker is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.title}: still running after {timeout} s")
            QApplication.processEvents()
            time.sleep(0.005)
        QApplication.processEvents()

    def __call__(self) -> dict:
        """Run and wait; returns the output layers by kind (empty when nothing was made)."""
        self.outputs = {}
        if self.run() is not None:
            self.wait()
        return self.outputs

    def _set_running(self, running: bool) -> None:
        self.buttons.run_button.enabled = not running
        self.buttons.cancel_button.enabled = running

    def _on_progress(self, fraction: float) -> None:
        self.progress.value = int(round(fraction * 1000))

    def _on_returned(self, outcome) -> None:
        kind, payload = outcome
        if self.viewer is None:  # the viewer was closed meanwhile
            return
        self.elapsed = time.monotonic() - self._started
        if kind == "ok":
            try:
                message = self._apply(self._job, payload)
            except InputError as exc:
                self._report_error(str(exc))
                return
            self.progress.value = 1000
            self.status.value = message or "done"
        elif kind == "cancelled":
            self.progress.value = 0
            self.status.value = "cancelled; nothing was changed"
            show_info(f"{self.title}: cancelled")
        else:
            self._report_error(payload)

    def _on_errored(self, exc) -> None:
        # an unexpected failure (a bug): napari's worker already shows it with its traceback
        self.status.value = f"failed: {type(exc).__name__}: {exc}"

    def _on_finished(self) -> None:
        self.worker, self._cancel_event = None, None
        self._set_running(False)

    def _report_error(self, message: str) -> None:
        self.progress.value = 0
        self.status.value = message
        show_error(f"{self.title}: {message}")

    # --- to implement --------------------------------------------------------------------------
    def _prepare(self):
        raise NotImplementedError

    @staticmethod
    def _compute(job, progress, cancel):
        raise NotImplementedError

    def _apply(self, job, result) -> str:
        raise NotImplementedError


def paint_red(labels) -> None:
    try:
        from napari.utils.colormaps import DirectLabelColormap

        colours = {None: "transparent", 0: "transparent", 1: "red"}
        labels.colormap = DirectLabelColormap(color_dict=colours)
    except Exception:  # an older/newer napari without this API keeps its default colours
        pass
    labels.selected_label = 1


def layer_choices(viewer_ref, kind):
    """magicgui choices callable: the viewer's layers of `kind`, in layer-list order."""
    def get(_widget=None):
        viewer = viewer_ref()
        if viewer is None:
            return []
        return [(x.name, unwrap(x)) for x in viewer.layers if isinstance(x, kind)]
    return get


def layer_combo(viewer, name: str, kind, tooltip: str, *, nullable: bool = False, **kwargs):
    """A ComboBox listing the viewer's layers of `kind` (a layer class or a tuple of them), kept
    up to date by JobWidget; `nullable` adds the ----- choice (no layer)."""
    from magicgui.widgets import ComboBox

    viewer_ref = weakref.ref(unwrap(viewer))
    return ComboBox(name=name, label=name, nullable=nullable, tooltip=tooltip,
                    choices=layer_choices(viewer_ref, kind), **kwargs)


def all_slices_box():
    """The 'all slices' CheckBox both widgets show: stacks, every slice or the one on screen."""
    return CheckBox(name="all_slices", text="all slices", value=False,
                    tooltip="stacks: process every slice (otherwise only the slice on screen)")
