"""`Session`: an onnxruntime session that checks every feed before onnxruntime sees it.

A session loads the model with `load_model`, matches providers like Polygraphy
(`resolve_providers`), runs the lowering made for its provider where the file proves it may
(`prepare_for`), and precomputes the input specs so that checking a feed costs well under a
microsecond (`onnxlayers.runtime.feeds`). Mistakes raise `InputError` naming the input, what was
given and what the model expects. Optionally a fraction of runs is re-computed by the NumPy
oracle and compared (``check_rate``), for production checking.

>>> import numpy as np
>>> import onnx.helper as h
>>> from onnx import TensorProto as TP
>>> graph = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
...     [h.make_tensor_value_info("x", TP.FLOAT, ["N", 3])],
...     [h.make_tensor_value_info("y", TP.FLOAT, ["N", 3])])
>>> sess = Session(h.make_model(graph, opset_imports=[h.make_opsetid("", 21)]))
>>> sess.run({"x": np.array([[-1.0, 0.0, 2.0]], np.float32)})["y"]
array([[0., 0., 2.]], dtype=float32)
>>> sess.run({"x": np.zeros((1, 4), np.float32)})
Traceback (most recent call last):
...
onnxlayers.runtime.errors.InputError: input 'x': dim 1 is 4, the model expects 3 (float32[N, 3])
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import onnx
import onnxruntime as ort

from onnxlayers.builder.program import METADATA_KEY, LoweringRecord, Program, own_lowering

from .diagnose import explain, layer_labels
from .errors import DataError, InputError, MismatchError, ModelLoadError, RuntimeFault
from .feeds import Feed, FeedChecker, TensorSpec, describe, to_numpy, zeros
from .loading import ModelSource, describe_source, load_model, node_label
from .ort_cache import open_cached
from .providers import ProviderPlan, ProviderRequest, resolve_providers, settle, target_for

if TYPE_CHECKING:
    from .compare import Report

__all__ = ["LoweringNotAppliedWarning", "OracleMismatchWarning", "Session", "TensorSpec"]

OnMismatch = Literal["raise", "warn"] | Callable[["Report"], object]
_ASSIGNMENT_CONFIG = "session.record_ep_graph_assignment_info"

if not os.environ.get("ONNXLAYERS_ORT_LOGS"):
    # onnxruntime's own log lines (red "[E:onnxruntime ...]" on stderr, "Failed to load library
    # ..." when CUDA is missing) are silenced; what they say reaches the user through our
    # exceptions and warnings (DataError, ProviderError, ProviderFallbackWarning).
    # ONNXLAYERS_ORT_LOGS=1 keeps them.
    ort.set_default_logger_severity(4)


class OracleMismatchWarning(UserWarning):
    """A checked run disagreed with the NumPy oracle (``on_mismatch="warn"``)."""


class Session:
    """Run an ONNX model on onnxruntime with checked feeds.

    Args:
        model: a ModelProto, serialized bytes or a path (loaded with `load_model`).
        providers: names matched like Polygraphy (``"cpu"``, ``"cuda"``, full names, or
            ``(name, options)`` pairs); unavailable ones warn and fall back (see ``strict``).
        strict: raise `ProviderError` instead of falling back.
        provider_options: ``{provider name: {option: value}}``.
        threads: onnxruntime's intra-op thread count (None: its default).
        optimized_model_path: cache of onnxruntime's optimized model, reused while its key
            (the model, providers, their options, onnxruntime's version) matches and a source
            file is not newer (`onnxlayers.runtime.ort_cache`). It may hold hardware-specific
            fusions: keep it on the machine that made it.
        check_rate: fraction of runs also computed by the NumPy oracle and compared with the
            default per-dtype tolerances (0: never).
        on_mismatch: ``"raise"`` (`MismatchError`), ``"warn"`` (`OracleMismatchWarning`), or a
            callable taking the comparison report.
        seed: seed of the random draw that picks the checked runs.

    >>> import onnx.helper as h
    >>> graph = h.make_graph([h.make_node("Neg", ["x"], ["y"])], "g",
    ...     [h.make_tensor_value_info("x", 1, [2])], [h.make_tensor_value_info("y", 1, [2])])
    >>> sess = Session(h.make_model(graph, opset_imports=[h.make_opsetid("", 21)]), ["cpu"])
    >>> sess.providers, [str(s) for s in sess.input_specs], sess.output_names
    (['CPUExecutionProvider'], ['float32[2]'], ('y',))
    >>> sess.run({"x": [1.0, -2.0]})["y"]
    array([-1.,  2.], dtype=float32)
    """

    def __init__(
        self,
        model: ModelSource,
        providers: ProviderRequest | Sequence[ProviderRequest] = ("cpu",),
        *,
        strict: bool = False,
        provider_options: Mapping[str, Mapping[str, object]] | None = None,
        threads: int | None = None,
        optimized_model_path: str | os.PathLike[str] | None = None,
        check_rate: float = 0.0,
        on_mismatch: OnMismatch = "raise",
        seed: int | None = None,
    ) -> None:
        started = time.perf_counter()
        _check_options(check_rate, on_mismatch, threads)
        self._label = describe_source(model)
        self._model = load_model(model)
        self._plan: ProviderPlan = resolve_providers(
            providers, strict=strict, provider_options=provider_options
        )
        self._ort_model = prepare_for(self._model, self._plan.names)
        self._threads = threads
        self._sess = self._create(model, optimized_model_path)
        settle(self._plan, self._sess.get_providers(), strict=strict)
        self._feeds = FeedChecker(
            map(TensorSpec.from_node_arg, self._sess.get_inputs()),
            map(TensorSpec.from_node_arg, self._sess.get_overridable_initializers()),
            map(TensorSpec.from_node_arg, self._sess.get_outputs()),
        )
        self._prepare = self._feeds.prepare  # bound once: the hot path's first call
        self._output_names = tuple(spec.name for spec in self._feeds.outputs)
        self._output_list = list(self._output_names)
        self._run_c = getattr(self._sess, "_sess", self._sess).run  # C-level run, ~1 us less
        self._check_rate = check_rate
        self._on_mismatch = on_mismatch
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._checked_runs = 0
        self._mismatched_runs = 0
        self._placement: dict[str, str] | None = None
        self._program: Any = None
        self.creation_seconds = time.perf_counter() - started

    # ---------------------------------------------------------------- properties
    @property
    def model(self) -> onnx.ModelProto:
        """The loaded model, as given (before `prepare_for` lowers it for the provider)."""
        return self._model

    @property
    def providers(self) -> list[str]:
        """The providers the session really got (``InferenceSession.get_providers()``)."""
        return list(self._sess.get_providers())

    @property
    def requested_providers(self) -> tuple[str, ...]:
        """Every provider asked for, by full name, whether this build has it or not."""
        return self._plan.requested

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """Name, dtype and shape of each input onnxruntime expects, in order."""
        return self._feeds.inputs

    @property
    def optional_input_specs(self) -> tuple[TensorSpec, ...]:
        """Initializers the model lets a caller override by feeding them (rarely any)."""
        return self._feeds.optional

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """Name, dtype and shape of each output, in the model's order."""
        return self._feeds.outputs

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names in the model's order (the order of `run`'s result)."""
        return self._output_names

    @property
    def checked_runs(self) -> int:
        """Runs compared with the oracle so far (``check_rate``)."""
        return self._checked_runs

    @property
    def mismatched_runs(self) -> int:
        """Checked runs that disagreed with the oracle."""
        return self._mismatched_runs

    # ---------------------------------------------------------------- running
    def run(
        self,
        feeds: Mapping[str, Any],
        *,
        out: Mapping[str, np.ndarray] | None = None,
        output_device: str = "cpu",
    ) -> dict[str, Any]:
        """Run the model; returns ``{output name: array}`` in the model's output order.

        Feeds are checked against `input_specs` (names, dtype, rank, static dims) and raise
        `InputError` on a mismatch. Non-contiguous arrays are made contiguous, non-native byte
        order converted; Python scalars and lists are converted to the input's dtype when that
        changes no value beyond float rounding. ``OrtValue`` feeds (already on a device) are
        bound as they are.

        ``out`` maps output names to preallocated C-contiguous arrays that onnxruntime writes
        into (returned as they are). ``output_device="cuda"`` (or ``"cuda:1"``) keeps the
        outputs on that device as ``onnxruntime.OrtValue`` objects.
        """
        prepared, has_ortvalues = self._prepare(feeds)
        if out is None and output_device == "cpu" and not has_ortvalues:
            try:
                outputs = self._run_c(self._output_list, prepared, None)
            except Exception as err:
                raise self._run_error(prepared, err) from err
            result = dict(zip(self._output_names, outputs))  # noqa: B905 (strict= costs ~0.3 us)
        else:
            result = self._run_bound(prepared, out or {}, output_device)
        if self._check_rate and self._rng.random() < self._check_rate:
            self._check(prepared, result)
        return result

    def placement(self) -> dict[str, str]:
        """Node name -> provider (e.g. ``'CPUExecutionProvider'``) as onnxruntime assigned them.

        The nodes are those of the graph onnxruntime partitioned: after its basic
        optimizations (constant folding and Identity removal drop nodes of the file) and before
        its provider-specific fusions; from a cached optimized model they are the optimized
        graph's nodes. Unnamed nodes appear as ``'<Op #index>'``. It uses onnxruntime's
        recorded graph assignment; where this onnxruntime lacks it, a profiling session runs
        the model once on zero-filled feeds (dynamic dims set to 1) and reads each node's
        provider from the profile.
        """
        if self._placement is None:
            if hasattr(self._sess, "get_provider_graph_assignment_info"):
                self._placement = self._recorded_placement()
            else:
                self._placement = self._profiled_placement()
        return dict(self._placement)

    # ---------------------------------------------------------------- creation
    def _options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # errors reach the user through our exceptions
        options.add_session_config_entry(_ASSIGNMENT_CONFIG, "1")
        if self._threads is not None:
            options.intra_op_num_threads = self._threads
        return options

    def _inference_session(
        self, source: bytes | str, options: ort.SessionOptions
    ) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(
                source,
                options,
                providers=list(self._plan.names),
                provider_options=list(self._plan.options),
            )
        except Exception as err:
            raise ModelLoadError(
                f"model {self._label}: onnxruntime cannot create a session on "
                f"{list(self._plan.names)}: {err}"
            ) from err

    def _create(
        self, source: ModelSource, cache: str | os.PathLike[str] | None
    ) -> ort.InferenceSession:
        data = self._ort_model.SerializeToString()
        options = self._options()
        if cache is None:
            return self._inference_session(data, options)
        return open_cached(
            self._inference_session,
            data,
            options,
            Path(cache),
            source,
            self._plan.names,
            self._plan.options,
        )

    # ---------------------------------------------------------------- binding
    def _run_bound(
        self, prepared: dict[str, Feed], out: Mapping[str, np.ndarray], output_device: str
    ) -> dict[str, Any]:
        """IO binding: preallocated ``out`` arrays, OrtValue feeds, outputs left on a device."""
        device, device_id = _parse_device(output_device)
        self._feeds.check_out(out, prepared)
        binding = self._sess.io_binding()
        for name, value in prepared.items():
            if isinstance(value, ort.OrtValue):
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, value)
        for name in self._output_names:
            target = out.get(name)
            if target is None:
                binding.bind_output(name, device, device_id)
            else:
                binding.bind_output(
                    name, "cpu", 0, target.dtype.type, target.shape, target.ctypes.data
                )
        try:
            _run_binding(self._sess, binding)
        except Exception as err:
            raise self._run_error(prepared, err, out) from err
        values = binding.get_outputs()
        return {
            name: out[name] if name in out else (value.numpy() if device == "cpu" else value)
            for name, value in zip(self._output_names, values, strict=False)
        }

    # ---------------------------------------------------------------- errors
    def _run_error(
        self, prepared: dict[str, Feed], err: Exception, out: Mapping[str, np.ndarray] | None = None
    ) -> RuntimeFault:
        feeds = ", ".join(f"{k}={describe(v)}" for k, v in prepared.items())
        buffers = ", ".join(f"{k}={describe(v)}" for k, v in (out or {}).items())
        with_out = f" and out= buffers {buffers}" if buffers else ""
        expected = self._feeds.expected()
        return DataError(
            f"model {self._label}: {explain(str(err), layer_labels(self._ort_model))}; feeds "
            f"{feeds}{with_out}; the model takes {{{expected}}}"
        )

    # ---------------------------------------------------------------- checking
    def _check(self, prepared: dict[str, Feed], result: dict[str, Any]) -> None:
        feeds = {k: to_numpy(v) for k, v in prepared.items()}
        outputs = {k: to_numpy(v) for k, v in result.items()}
        report = self._oracle_check(feeds, outputs)
        with self._lock:
            self._checked_runs += 1
            if not report.ok:
                self._mismatched_runs += 1
        if report.ok:
            return
        if self._on_mismatch == "raise":
            raise MismatchError(str(report))
        if self._on_mismatch == "warn":
            warnings.warn(str(report), OracleMismatchWarning, stacklevel=3)
        elif callable(self._on_mismatch):
            self._on_mismatch(report)

    def _oracle_check(self, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> Report:
        """Compare ``outputs`` with the NumPy oracle on ``feeds`` (tests monkeypatch this)."""
        from . import oracle
        from .compare import compare_outputs

        if self._program is None:
            self._program = oracle.program_of(self._model)
        expected = oracle.run(self._program, feeds, observed=outputs)
        return compare_outputs(outputs, expected)

    # ---------------------------------------------------------------- placement
    def _recorded_placement(self) -> dict[str, str]:
        nodes = [
            (node, subgraph.ep_name)
            for subgraph in self._sess.get_provider_graph_assignment_info()
            for node in subgraph.get_nodes()
        ]
        return {node_label(n.name, n.op_type, i): ep for i, (n, ep) in enumerate(nodes)}

    def _profiled_placement(self) -> dict[str, str]:
        options = self._options()
        options.enable_profiling = True
        with tempfile.TemporaryDirectory() as tmp:
            options.profile_file_prefix = os.path.join(tmp, "placement")
            session = self._inference_session(self._ort_model.SerializeToString(), options)
            session.run(None, {spec.name: zeros(spec) for spec in self.input_specs})
            with open(session.end_profiling(), encoding="utf-8") as file:
                events = json.load(file)
        return {
            event["name"].removesuffix("_kernel_time"): event["args"]["provider"]
            for event in events
            if event.get("cat") == "Node" and "provider" in event.get("args", {})
        }


# -------------------------------------------------------------------- helpers
def _check_options(check_rate: float, on_mismatch: object, threads: int | None) -> None:
    if not 0.0 <= check_rate <= 1.0:
        raise RuntimeFault(f"check_rate must be in [0, 1], got {check_rate!r}")
    if on_mismatch not in ("raise", "warn") and not callable(on_mismatch):
        raise RuntimeFault(
            f"on_mismatch must be 'raise', 'warn' or a callable taking the report, "
            f"got {on_mismatch!r}"
        )
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise RuntimeFault(f"threads must be a positive int or None, got {threads!r}")


class LoweringNotAppliedWarning(UserWarning):
    """A session wanted another target's lowering of a file, but the file does not prove that its
    graph is its layer program's own lowering, so the file runs as it is."""


def prepare_for(model: onnx.ModelProto, providers: Sequence[str]) -> onnx.ModelProto:
    """The model a session on ``providers`` (full names, first one preferred) runs.

    A file carrying a layer program and a lowering record for another target than the
    providers' (:func:`~onnxlayers.runtime.providers.target_for`: ``"cuda"`` for the CUDA
    provider, where it gets explicit pooling pads and custom-op bodies with CUDA kernels) is
    lowered again for that target, but only when its digest proves that its graph is the
    program's own lowering (:func:`~onnxlayers.builder.program.own_lowering`). Otherwise the
    file runs as it is; for the CUDA target a `LoweringNotAppliedWarning` says so. ``model``
    itself is never changed.
    """
    target = target_for(providers)
    record = LoweringRecord.of(model)
    if record is not None and record.target == target:
        return model
    has_program = any(p.key == METADATA_KEY for p in model.metadata_props)
    if record is None and (target == "any" or not has_program):
        return model  # not ours, or written before lowering records: nothing to swap
    proven = own_lowering(model)
    if proven is None:
        if target != "any":
            warnings.warn(
                f"the model's graph is not its layer program's own lowering (edited after it "
                f"was written, or written without a lowering record), so the {target}-safe "
                "lowering was not applied: onnxruntime runs the file's graph as it is",
                LoweringNotAppliedWarning,
                stacklevel=4,
            )
        return model
    from onnxlayers.builder.lowering import lower

    return lower(
        Program.from_onnx(model),
        target=target,
        opset=proven.opset,
        check=False,
        name=model.graph.name,
    )


def _run_binding(session: ort.InferenceSession, binding: ort.IOBinding) -> None:
    """The C-level run (~1 us) where present; onnxruntime's Python wrapper costs ~30 us."""
    c_session = getattr(session, "_sess", None)
    c_binding = getattr(binding, "_iobinding", None)
    if c_session is not None and c_binding is not None:
        c_session.run_with_iobinding(c_binding, None)
    else:
        session.run_with_iobinding(binding)


def _parse_device(device: str) -> tuple[str, int]:
    """``'cpu'`` -> ('cpu', 0); ``'cuda:1'`` -> ('cuda', 1)."""
    kind, _, index = str(device).lower().partition(":")
    if kind not in ("cpu", "cuda") or not (index == "" or index.isdigit()):
        raise InputError(f"output_device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return kind, int(index or 0)
