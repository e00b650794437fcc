"""`Session`: an onnxruntime session that checks every feed before onnxruntime sees it.

A session loads the model with `load_model`, matches providers like Polygraphy
(`resolve_providers`), lets custom ops pick function bodies per provider (the
``onnxlayers.custom_ops.specialize_for`` hook, when it exists), and precomputes the input specs
so that checking a feed costs well under a microsecond. Mistakes raise `InputError` naming the
input, what was given and what the model expects. Optionally a fraction of runs is re-computed by
the NumPy oracle and compared (``check_rate``), for production checking.

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

import difflib
import hashlib
import json
import operator
import os
import random
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import onnx
import onnxruntime as ort

from onnxlayers.builder.program import METADATA_KEY, LoweringRecord, Program, own_lowering

from .errors import DataError, InputError, MismatchError, ModelLoadError, RuntimeFault
from .loading import ModelSource, describe_source, load_model, node_label
from .providers import ProviderPlan, ProviderRequest, resolve_providers, target_for

if TYPE_CHECKING:
    from .compare import Report

__all__ = ["LoweringNotAppliedWarning", "OracleMismatchWarning", "Session", "TensorSpec"]

OnMismatch = Literal["raise", "warn"] | Callable[["Report"], object]
Feed: TypeAlias = "np.ndarray | ort.OrtValue"
_ASSIGNMENT_CONFIG = "session.record_ep_graph_assignment_info"

_NUMPY_DTYPES = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in {
        "float": "float32", "double": "float64", "float16": "float16", "bool": "bool",
        "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
        "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    }.items()
}


class OracleMismatchWarning(UserWarning):
    """A checked run disagreed with the NumPy oracle (``on_mismatch="warn"``)."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, NumPy dtype (None where NumPy has none), shape.

    ``shape`` holds ints for static dims and strings or None for dynamic ones; it is None when
    the rank is unknown.

    >>> spec = TensorSpec("x", np.dtype("float32"), ("N", 3), "tensor(float)")
    >>> spec.rank, spec.static_dims, str(spec)
    (2, ((1, 3),), 'float32[N, 3]')
    """

    name: str
    dtype: np.dtype[Any] | None
    shape: tuple[int | str | None, ...] | None
    onnx_type: str
    static_dims: tuple[tuple[int, int], ...] = field(init=False, repr=False)
    probe: tuple[str, Any, int, Any, object] = field(init=False, repr=False)
    """``(name, dtype, rank or -1, static-dim getter or None, static dims)`` for the hot path."""

    def __post_init__(self) -> None:
        static = tuple((a, d) for a, d in enumerate(self.shape or ()) if isinstance(d, int))
        object.__setattr__(self, "static_dims", static)
        # itemgetter picks the static dims of a shape in C: the cheapest check in the hot path
        pick = operator.itemgetter(*(a for a, _ in static)) if static else None
        want = static[0][1] if len(static) == 1 else tuple(d for _, d in static)
        rank = -1 if self.shape is None else len(self.shape)
        object.__setattr__(self, "probe", (self.name, self.dtype, rank, pick, want))

    @property
    def rank(self) -> int | None:
        """Number of dims, or None when the model does not say."""
        return None if self.shape is None else len(self.shape)

    def fits(self, shape: Sequence[int]) -> bool:
        """Whether a concrete shape has this rank and these static dims.

        >>> TensorSpec("x", None, ("N", 3), "tensor(float)").fits((0, 3))
        True
        """
        _, _, rank, pick, want = self.probe
        return rank < 0 or (len(shape) == rank and (pick is None or pick(shape) == want))

    def __str__(self) -> str:
        dtype = self.dtype.name if self.dtype is not None else self.onnx_type
        dims = "?" if self.shape is None else ", ".join("?" if d is None else str(d)
                                                        for d in self.shape)
        return f"{dtype}[{dims}]"

    @classmethod
    def from_node_arg(cls, arg: Any) -> TensorSpec:
        """The spec of an onnxruntime ``NodeArg`` (``sess.get_inputs()[i]``)."""
        shape = None if arg.shape is None else tuple(arg.shape)
        return cls(arg.name, _NUMPY_DTYPES.get(arg.type), shape, arg.type)


class Session:
    """Run an ONNX model on onnxruntime with checked feeds.

    Args:
        model: a ModelProto, serialized bytes or a path (loaded with `load_model`).
        providers: names matched like Polygraphy (``"cpu"``, ``"cuda"``, full names, or
            ``(name, options)`` pairs); unavailable ones warn and fall back (see ``strict``).
        strict: raise `ProviderError` instead of falling back.
        provider_options: ``{provider name: {option: value}}``.
        threads: onnxruntime's intra-op thread count (None: its default).
        optimized_model_path: cache of onnxruntime's optimized model. When the file exists, is
            not older than the source file (for a path source) and its ``<file>.key`` sidecar
            matches (a hash of the model given to onnxruntime, the providers and their options,
            and onnxruntime's version), the session loads it with graph optimizations off;
            otherwise onnxruntime writes it (and we write the key). The cached file may hold
            hardware-specific fusions: keep it on the machine that made it.
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
        self._input_specs = tuple(map(TensorSpec.from_node_arg, self._sess.get_inputs()))
        self._output_specs = tuple(map(TensorSpec.from_node_arg, self._sess.get_outputs()))
        self._output_names = tuple(spec.name for spec in self._output_specs)
        self._output_list = list(self._output_names)
        self._input_names = frozenset(spec.name for spec in self._input_specs)
        overridable = self._sess.get_overridable_initializers()
        self._optional_specs = tuple(map(TensorSpec.from_node_arg, overridable))
        self._probes = tuple(spec.probe for spec in self._input_specs)
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
        """The loaded model (before any per-provider specialization)."""
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
        return self._input_specs

    @property
    def optional_input_specs(self) -> tuple[TensorSpec, ...]:
        """Initializers the model lets a caller override by feeding them (rarely any)."""
        return self._optional_specs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """Name, dtype and shape of each output, in the model's order."""
        return self._output_specs

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
        options.log_severity_level = 3
        options.add_session_config_entry(_ASSIGNMENT_CONFIG, "1")
        if self._threads is not None:
            options.intra_op_num_threads = self._threads
        return options

    def _inference_session(self, source: bytes | str, options: ort.SessionOptions
                           ) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(
                source, options, providers=list(self._plan.names),
                provider_options=list(self._plan.options),
            )
        except Exception as err:
            raise ModelLoadError(
                f"model {self._label}: onnxruntime cannot create a session on "
                f"{list(self._plan.names)}: {err}"
            ) from err

    def _create(self, source: ModelSource, cache: str | os.PathLike[str] | None
                ) -> ort.InferenceSession:
        data = self._ort_model.SerializeToString()
        options = self._options()
        if cache is None:
            return self._inference_session(data, options)
        cache_path = Path(cache)
        key = self._cache_key(data)
        if _cache_is_fresh(cache_path, key, source):
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            return self._inference_session(os.fspath(cache_path), options)
        options.optimized_model_filepath = os.fspath(cache_path)
        session = self._inference_session(data, options)
        _key_path(cache_path).write_text(key, encoding="utf-8")
        return session

    def _cache_key(self, data: bytes) -> str:
        digest = hashlib.sha256(data)
        digest.update(repr((self._plan.names, self._plan.options, ort.__version__)).encode())
        return digest.hexdigest()

    # ---------------------------------------------------------------- feeds
    def _prepare(self, feeds: Mapping[str, Any]) -> tuple[dict[str, Feed], bool]:
        """``(checked feeds, whether any is an OrtValue)``.

        The common case (C-contiguous arrays of the right dtype and shape in a dict) costs a
        few attribute reads per input and hands the caller's dict to onnxruntime as it is.
        """
        try:
            names_ok = feeds.keys() == self._input_names
        except AttributeError:
            raise InputError(
                f"feeds must be a mapping of input name to array, got {type(feeds).__name__}; "
                f"the model expects {{{self._expected()}}}"
            ) from None
        if not names_ok:
            return self._prepare_slowly(feeds)
        for name, dtype, rank, pick, want in self._probes:
            value = feeds[name]
            if (
                type(value) is not np.ndarray
                or value.dtype is not dtype
                or value.ndim != rank
                or (pick is not None and pick(value.shape) != want)
                or not value.flags.c_contiguous
            ):
                return self._prepare_slowly(feeds)
        return (feeds if type(feeds) is dict else dict(feeds)), False

    def _prepare_slowly(self, feeds: Mapping[str, Any]) -> tuple[dict[str, Feed], bool]:
        """Every feed through `_coerce`; overridable initializers may be fed too."""
        specs = [s for s in (*self._input_specs, *self._optional_specs) if s.name in feeds]
        if len(specs) != len(feeds) or any(s.name not in feeds for s in self._input_specs):
            raise self._names_error(feeds)
        prepared = {spec.name: self._coerce(spec, feeds[spec.name]) for spec in specs}
        return prepared, any(isinstance(v, ort.OrtValue) for v in prepared.values())

    def _coerce(self, spec: TensorSpec, value: Any) -> Feed:
        """OrtValues, byte order, layout, Python values, and every error."""
        if isinstance(value, ort.OrtValue):
            _check_ortvalue(spec, value)
            return value
        if isinstance(value, np.ndarray):
            array = _native(spec, np.asarray(value))
        else:
            array = _from_python(spec, value)
        if not spec.fits(array.shape):
            raise InputError(_shape_problem(spec, array.shape))
        return array if array.flags.c_contiguous else array.copy(order="C")

    def _expected(self) -> str:
        optional = [f"{s.name!r}: {s} (optional)" for s in self._optional_specs]
        return ", ".join([*(f"{s.name!r}: {s}" for s in self._input_specs), *optional])

    def _names_error(self, feeds: Mapping[str, Any]) -> InputError:
        given = list(feeds.keys())
        missing = [s.name for s in self._input_specs if s.name not in feeds]
        known = self._input_names | {s.name for s in self._optional_specs}
        extra = [name for name in given if name not in known]
        hints = [
            f"{name!r} (did you mean {close!r}?)" if close else repr(name)
            for name in extra
            for close in [_closest(str(name), missing)]
        ]
        parts = [f"missing {missing}" if missing else "", f"unknown {', '.join(hints)}" if hints
                 else ""]
        return InputError(
            f"feeds {given!r} do not match the model's inputs: "
            f"{'; '.join(p for p in parts if p)}; the model expects {{{self._expected()}}}"
        )

    # ---------------------------------------------------------------- binding
    def _run_bound(self, prepared: dict[str, Feed], out: Mapping[str, np.ndarray],
                   output_device: str) -> dict[str, Any]:
        """IO binding: preallocated ``out`` arrays, OrtValue feeds, outputs left on a device."""
        device, device_id = _parse_device(output_device)
        self._check_out(out, prepared)
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
                binding.bind_output(name, "cpu", 0, target.dtype.type, target.shape,
                                    target.ctypes.data)
        try:
            _run_binding(self._sess, binding)
        except Exception as err:
            raise self._run_error(prepared, err, out) from err
        values = binding.get_outputs()
        return {
            name: out[name] if name in out else (value.numpy() if device == "cpu" else value)
            for name, value in zip(self._output_names, values, strict=False)
        }

    def _check_out(self, out: Mapping[str, np.ndarray], prepared: dict[str, Feed]) -> None:
        specs = {spec.name: spec for spec in self._output_specs}
        sizes = _symbol_sizes(self._input_specs, prepared)
        for name, target in out.items():
            spec = specs.get(name)
            if spec is None:
                raise InputError(f"out has {name!r}, which is not an output; outputs are "
                                 f"{list(self._output_names)}")
            problem = _out_problem(spec, target, sizes)
            if problem:
                raise InputError(f"out[{name!r}]: {problem}")

    # ---------------------------------------------------------------- errors
    def _run_error(self, prepared: dict[str, Feed], err: Exception,
                   out: Mapping[str, np.ndarray] | None = None) -> RuntimeFault:
        feeds = ", ".join(f"{k}={_describe(v)}" for k, v in prepared.items())
        buffers = ", ".join(f"{k}={_describe(v)}" for k, v in (out or {}).items())
        with_out = f" and out= buffers {buffers}" if buffers else ""
        return DataError(
            f"model {self._label}: onnxruntime failed on feeds {feeds}{with_out}: {err}"
        )

    # ---------------------------------------------------------------- checking
    def _check(self, prepared: dict[str, Feed], result: dict[str, Any]) -> None:
        feeds = {k: _to_numpy(v) for k, v in prepared.items()}
        outputs = {k: _to_numpy(v) for k, v in result.items()}
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

    def _oracle_check(self, feeds: dict[str, np.ndarray],
                      outputs: dict[str, np.ndarray]) -> Report:
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
            session.run(None, {spec.name: _zeros(spec) for spec in self._input_specs})
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

    return lower(Program.from_onnx(model), target=target, opset=proven.opset, check=False,
                 name=model.graph.name)


def _key_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".key")


def _cache_is_fresh(cache: Path, key: str, source: ModelSource) -> bool:
    key_file = _key_path(cache)
    if not (cache.is_file() and key_file.is_file()):
        return False
    if isinstance(source, (str, os.PathLike)) and (
        cache.stat().st_mtime_ns < Path(source).stat().st_mtime_ns
    ):
        return False
    return key_file.read_text(encoding="utf-8") == key


def _run_binding(session: ort.InferenceSession, binding: ort.IOBinding) -> None:
    """The C-level run (~1 us) where present; onnxruntime's Python wrapper costs ~30 us."""
    c_session = getattr(session, "_sess", None)
    c_binding = getattr(binding, "_iobinding", None)
    if c_session is not None and c_binding is not None:
        c_session.run_with_iobinding(c_binding, None)
    else:
        session.run_with_iobinding(binding)


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``name``, ignoring case (for "did you mean" hints)."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def _parse_device(device: str) -> tuple[str, int]:
    """``'cpu'`` -> ('cpu', 0); ``'cuda:1'`` -> ('cuda', 1)."""
    kind, _, index = str(device).lower().partition(":")
    if kind not in ("cpu", "cuda") or not (index == "" or index.isdigit()):
        raise InputError(f"output_device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return kind, int(index or 0)


def _native(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """The array in native byte order; a dtype other than the model's is an error."""
    if spec.dtype is None or array.dtype == spec.dtype:
        return array
    if array.dtype.newbyteorder("=") == spec.dtype:
        return array.astype(spec.dtype)
    raise InputError(f"input {spec.name!r}: got dtype {array.dtype.name!r}, the model expects "
                     f"{spec.dtype.name!r} ({spec}); convert it with .astype({spec.dtype.name})")


_NUMERIC = "biuf"


def _from_python(spec: TensorSpec, value: Any) -> np.ndarray:
    """Python scalars and lists: converted to the input's dtype if no value changes."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"input {spec.name!r}: cannot make an array of {value!r} ({err}); "
                         f"the model expects {spec}") from err
    if spec.dtype is None or raw.dtype == spec.dtype:
        return raw
    if raw.dtype.kind not in _NUMERIC or spec.dtype.kind not in _NUMERIC:
        raise InputError(f"input {spec.name!r}: got {value!r} ({raw.dtype.name}), the model "
                         f"expects {spec}")
    with np.errstate(all="ignore"):
        converted = raw.astype(spec.dtype)
    if not _lossless(raw, converted):
        raise InputError(f"input {spec.name!r}: {value!r} does not fit {spec.dtype.name} without "
                         f"changing a value; the model expects {spec}")
    return converted


def _lossless(raw: np.ndarray, converted: np.ndarray) -> bool:
    """Equal after a round trip; float to float only needs to stay finite (rounding is fine)."""
    if raw.dtype.kind == "f" and converted.dtype.kind == "f":
        return bool(np.array_equal(np.isfinite(raw), np.isfinite(converted)))
    with np.errstate(all="ignore"):
        return bool(np.array_equal(converted.astype(raw.dtype), raw, equal_nan=raw.dtype.kind
                                   == "f"))


def _shape_problem(spec: TensorSpec, shape: Sequence[int]) -> str:
    if spec.shape is not None and len(shape) != len(spec.shape):
        return (f"input {spec.name!r}: got rank {len(shape)} (shape {tuple(shape)}), the model "
                f"expects rank {len(spec.shape)} ({spec})")
    axis, want = next((a, d) for a, d in spec.static_dims if shape[a] != d)
    return f"input {spec.name!r}: dim {axis} is {shape[axis]}, the model expects {want} ({spec})"


def _check_ortvalue(spec: TensorSpec, value: ort.OrtValue) -> None:
    if value.data_type() != spec.onnx_type:
        raise InputError(f"input {spec.name!r}: got an OrtValue of {value.data_type()}, the model "
                         f"expects {spec.onnx_type} ({spec})")
    if not spec.fits(value.shape()):
        raise InputError(_shape_problem(spec, value.shape()))


def _symbol_sizes(specs: Sequence[TensorSpec], prepared: dict[str, Feed]) -> dict[str, int]:
    """Sizes of named dynamic dims (``'N'``) as the feeds fix them."""
    sizes: dict[str, int] = {}
    for spec in specs:
        shape = _shape_of(prepared[spec.name])
        for axis, dim in enumerate(spec.shape or ()):
            if isinstance(dim, str):
                sizes.setdefault(dim, shape[axis])
    return sizes


def _out_problem(spec: TensorSpec, target: Any, sizes: dict[str, int]) -> str:
    """Why ``target`` cannot receive output ``spec`` ('' when it can)."""
    if not isinstance(target, np.ndarray):
        return f"got {type(target).__name__}, expected a numpy array ({spec})"
    if target.dtype != spec.dtype or not target.dtype.isnative:
        return f"dtype is {target.dtype.str!r}, the model's output is {spec} (native order)"
    if not (target.flags.c_contiguous and target.flags.writeable):
        return "must be a writeable C-contiguous array"
    expected = [sizes.get(d, d) if isinstance(d, str) else d for d in spec.shape or ()]
    wrong = [
        (axis, want) for axis, want in enumerate(expected)
        if isinstance(want, int) and axis < target.ndim and target.shape[axis] != want
    ]
    if spec.shape is not None and (target.ndim != len(spec.shape) or wrong):
        return (f"shape {target.shape} does not fit the output {spec}"
                f"{' with these feeds: expected ' + str(tuple(expected)) if sizes else ''}")
    return ""


def _shape_of(value: Feed) -> list[int]:
    return value.shape() if isinstance(value, ort.OrtValue) else list(value.shape)


def _describe(value: Any) -> str:
    if isinstance(value, ort.OrtValue):
        return f"OrtValue({value.data_type()}, {value.shape()}, {value.device_name()})"
    return f"{value.dtype.name}{list(value.shape)}"


def _to_numpy(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, ort.OrtValue) else np.asarray(value)


def _zeros(spec: TensorSpec) -> np.ndarray:
    if spec.dtype is None:
        raise InputError(f"input {spec.name!r}: cannot make zero feeds for {spec.onnx_type}")
    return np.zeros([d if isinstance(d, int) else 1 for d in spec.shape or ()], spec.dtype)
